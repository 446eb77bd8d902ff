@preconcurrency import Crypto
import Foundation

/// RFC 9530 `Content-Digest` with sha-256: `sha-256=:BASE64:`.
public enum ContentDigest {
    public static func sha256(_ body: [UInt8]) -> String {
        "sha-256=:" + Data(SHA256.hash(data: body)).base64EncodedString() + ":"
    }

    /// Whether `header` carries a sha-256 digest that matches `body`. Other
    /// algorithms in the same header are ignored; sha-256 must be present.
    public static func matches(_ header: String, body: [UInt8]) -> Bool {
        let expected = sha256(body)
        return header.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == expected }
    }
}
