@preconcurrency import Crypto
import Foundation

/// An Ed25519 key pair of a gateway. Stored as PKCS#8 PEM, the form OpenSSL
/// and Python's `cryptography` read too.
public struct SigningKey: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey

    public init(privateKey: Curve25519.Signing.PrivateKey) { self.privateKey = privateKey }

    /// A fresh random key.
    public static func generate() -> SigningKey { .init(privateKey: .init()) }

    public var publicKey: PublicKey { .init(key: privateKey.publicKey) }

    // PKCS#8 for Ed25519 is a fixed 16-byte prefix and the 32-byte seed.
    static let pkcs8Prefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]

    public var pem: String {
        let der = Self.pkcs8Prefix + [UInt8](privateKey.rawRepresentation)
        return PEM.encode(der, label: "PRIVATE KEY")
    }

    public init(pem text: String) throws(KeyFileError) {
        guard let der = PEM.decode(text, label: "PRIVATE KEY") else {
            throw .malformed("expected a PEM block `-----BEGIN PRIVATE KEY-----` holding an Ed25519 key (make one with `panic-gateway keygen`)")
        }
        guard der.count == 48, Array(der.prefix(16)) == Self.pkcs8Prefix else {
            throw .malformed("the PEM block is not an Ed25519 PKCS#8 key (\(der.count) bytes)")
        }
        do { privateKey = try .init(rawRepresentation: der.suffix(32)) }
        catch { throw .malformed("the Ed25519 seed was refused: \(error)") }
    }

    /// Signs `message`.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        [UInt8](try privateKey.signature(for: message))
    }
}

/// An Ed25519 public key, as the receiver holds it.
public struct PublicKey: Sendable, Equatable {
    public let key: Curve25519.Signing.PublicKey

    public init(key: Curve25519.Signing.PublicKey) { self.key = key }

    /// From the base64 of the 32 raw bytes (what `keygen` prints).
    public init(base64 text: String) throws(KeyFileError) {
        guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw .malformed("a public key is the base64 of 32 bytes, as `panic-gateway keygen` prints it")
        }
        do { key = try .init(rawRepresentation: raw) }
        catch { throw .malformed("not an Ed25519 public key: \(error)") }
    }

    public var base64: String { key.rawRepresentation.base64EncodedString() }

    /// The `keyid` of signatures made with this key: the first 16 hex digits
    /// of SHA-256 over the raw public key.
    public var keyID: String { String(fingerprint.prefix(16)) }

    /// SHA-256 of the raw public key, hex.
    public var fingerprint: String {
        SHA256.hash(data: key.rawRepresentation).map { String(format: "%02x", $0) }.joined()
    }

    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: message)
    }

    public static func == (a: Self, b: Self) -> Bool { a.key.rawRepresentation == b.key.rawRepresentation }
}

enum PEM {
    static func encode(_ der: [UInt8], label: String) -> String {
        let b64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(b64)\n-----END \(label)-----\n"
    }

    static func decode(_ text: String, label: String) -> [UInt8]? {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        guard let b = text.range(of: begin), let e = text.range(of: end, range: b.upperBound..<text.endIndex) else { return nil }
        let body = text[b.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(body)).map { [UInt8]($0) }
    }
}
