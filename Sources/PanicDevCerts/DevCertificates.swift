import Crypto
import Foundation
import SwiftASN1
import X509

/// A throw-away certificate authority and server certificate for loopback:
/// the demo, the benchmarks and the tests make their own, so real TLS with
/// real verification runs without any real PKI.
public struct DevCertificates: Sendable {
    public let caPEM: String
    public let serverCertificatePEM: String
    public let serverKeyPEM: String

    /// A CA named `caName` and a server certificate for `localhost`,
    /// `127.0.0.1` and `::1`, valid for a day.
    ///
    /// For tests of what a gateway must refuse: `serverNames` replaces those
    /// names (a certificate for another host), `serverValidity` the server
    /// certificate's validity (one that expired).
    public static func make(
        caName: String = "panic-gateway test CA", serverNames: [String]? = nil, serverValidity: DateInterval? = nil
    ) throws -> DevCertificates {
        let now = Date()
        let names: [GeneralName] = serverNames.map { $0.map { GeneralName.dnsName($0) } } ?? [
            .dnsName("localhost"),
            .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
            .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
        ]
        let validity = serverValidity ?? DateInterval(start: now - 3600, end: now + 86_400)
        let caKey = P256.Signing.PrivateKey()
        let caSubject = try DistinguishedName { CommonName(caName) }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: min(now, validity.start) - 3600, notValidAfter: max(now, validity.end) + 86_400,
            issuer: caSubject, subject: caSubject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: validity.start, notValidAfter: validity.end,
            issuer: caSubject, subject: try DistinguishedName { CommonName(serverNames?.first ?? "localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))
        return DevCertificates(caPEM: try pem(ca), serverCertificatePEM: try pem(server), serverKeyPEM: serverKey.pemRepresentation)
    }

    static func pem(_ cert: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(cert)
        return PEMDocument(type: "CERTIFICATE", derBytes: serializer.serializedBytes).pemString
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` (mode 0600) into `directory`.
    public func write(to directory: String) throws -> (ca: String, certificate: String, key: String) {
        let ca = directory + "/ca.pem", cert = directory + "/server.pem", key = directory + "/server.key"
        try caPEM.write(toFile: ca, atomically: true, encoding: .utf8)
        try serverCertificatePEM.write(toFile: cert, atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: key, contents: Data(serverKeyPEM.utf8), attributes: [.posixPermissions: 0o600])
        return (ca, cert, key)
    }
}
