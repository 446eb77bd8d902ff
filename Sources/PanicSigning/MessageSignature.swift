import Foundation

/// The headers that carry an RFC 9421 signature.
public struct SignatureHeaders: Sendable, Equatable {
    public var contentDigest: String
    public var signatureInput: String
    public var signature: String
}

/// The request parts a signature covers; the receiver rebuilds the same.
public struct SignedMessage: Sendable {
    public var method: String
    /// Absolute URI: `https://host:port/path`.
    public var targetURI: String
    /// Header lookup by lowercase name.
    public var header: @Sendable (String) -> String?
    public var body: [UInt8]

    public init(method: String, targetURI: String, body: [UInt8], header: @escaping @Sendable (String) -> String?) {
        self.method = method
        self.targetURI = targetURI
        self.body = body
        self.header = header
    }
}

/// Signs requests with RFC 9421 HTTP Message Signatures, `ed25519`,
/// covering `@method`, `@target-uri`, `content-type` and `content-digest`
/// (RFC 9530 sha-256), with `created`, `keyid`, `nonce` and `alg`.
public struct MessageSigner: Sendable {
    public static let label = "sig1"
    public static let components = ["@method", "@target-uri", "content-type", "content-digest"]

    public let key: SigningKey
    public let keyID: String

    public init(key: SigningKey) {
        self.key = key
        self.keyID = key.publicKey.keyID
    }

    /// - Parameters:
    ///   - created: Unix seconds of signing; sign each transmission afresh.
    ///   - nonce: the alert id (the receiver de-duplicates on it anyway).
    public func sign(method: String, targetURI: String, contentType: String, body: [UInt8], created: Int64, nonce: String) throws -> SignatureHeaders {
        let digest = ContentDigest.sha256(body)
        let params = SignatureParams(
            components: Self.components, created: created, expires: nil, keyID: keyID, nonce: nonce, algorithm: "ed25519")
        let values: [String: String] = [
            "@method": method.uppercased(), "@target-uri": targetURI,
            "content-type": contentType, "content-digest": digest,
        ]
        let base = SignatureBase.build(params: params) { values[$0] }!
        let signature = try key.sign(Array(base.utf8))
        return SignatureHeaders(
            contentDigest: digest,
            signatureInput: "\(Self.label)=\(params.serialized)",
            signature: "\(Self.label)=:\(Data(signature).base64EncodedString()):")
    }
}

/// The `@signature-params` of one signature.
struct SignatureParams: Equatable {
    /// `created` and `expires` outside this (Unix seconds) are malformed.
    static let acceptedSeconds: ClosedRange<Int64> = 0...(1 << 40)

    var components: [String]
    var created: Int64?
    var expires: Int64?
    var keyID: String?
    var nonce: String?
    var algorithm: String?
    /// The exact text as received, which the signature base must reuse.
    var raw: String?

    var serialized: String {
        if let raw { return raw }
        var s = "(" + components.map { "\"\($0)\"" }.joined(separator: " ") + ")"
        if let created { s += ";created=\(created)" }
        if let expires { s += ";expires=\(expires)" }
        if let keyID { s += ";keyid=\"\(keyID)\"" }
        if let nonce { s += ";nonce=\"\(nonce)\"" }
        if let algorithm { s += ";alg=\"\(algorithm)\"" }
        return s
    }
}

enum SignatureBase {
    /// The signature base of RFC 9421 §2.5; nil if a component has no value.
    static func build(params: SignatureParams, value: (String) -> String?) -> String? {
        var lines: [String] = []
        for c in params.components {
            guard let v = value(c) else { return nil }
            lines.append("\"\(c)\": \(v)")
        }
        lines.append("\"@signature-params\": \(params.serialized)")
        return lines.joined(separator: "\n")
    }
}
