import Crypto
import _CryptoExtras

/// DC-09 encryption: AES-CBC (128, 192 or 256-bit key) with a zero IV over
/// `pad|content`, where the pad of `[A-Za-z0-9]` brings the length to a
/// multiple of 16 (a whole block when it already is one); sent as
/// upper-case hex.
public struct DC09Cipher: Sendable {
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    private static let padAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// - Throws: `.invalidKeyLength` unless `key` has 16, 24 or 32 bytes.
    public init(key: [UInt8]) throws(DC09CodecError) {
        guard [16, 24, 32].contains(key.count) else { throw .invalidKeyLength(key.count) }
        self.keyBytes = key
    }

    /// The pad length for `content` (which follows the pad's `|`).
    public static func padLength(contentBytes: Int) -> Int {
        16 - (contentBytes + 1) % 16
    }

    /// Encrypts `pad|content` and returns upper-case hex. `pad` is random
    /// unless given (tests reproduce published frames with a fixed pad).
    public func encrypt(content: String, pad: String? = nil) throws(DC09CodecError) -> String {
        let body = Array(content.utf8)
        let n = Self.padLength(contentBytes: body.count)
        let padBytes: [UInt8]
        if let pad {
            guard pad.utf8.count == n, pad.utf8.allSatisfy({ Self.padAlphabet.contains($0) }) else {
                throw .invalidPad(pad: pad, requiredLength: n)
            }
            padBytes = Array(pad.utf8)
        } else {
            var rng = SystemRandomNumberGenerator()
            padBytes = (0..<n).map { _ in Self.padAlphabet.randomElement(using: &rng)! }
        }
        let plaintext = padBytes + [UInt8(ascii: "|")] + body
        do {
            let sealed = try AES._CBC.encrypt(plaintext, using: key, iv: try AES._CBC.IV(ivBytes: [UInt8](repeating: 0, count: 16)), noPadding: true)
            return DC09Hex.encode([UInt8](sealed))
        } catch {
            throw .cipherFailed("\(error)")
        }
    }

    /// Decrypts hex text to the plaintext (pad included), checking that it
    /// is printable ASCII: a wrong key yields bytes that are not.
    public func decrypt(hex: Substring) throws(DC09CodecError) -> String {
        guard let bytes = DC09Hex.decode(hex.utf8) else { throw .undecryptable(reason: "not hex digits") }
        guard !bytes.isEmpty, bytes.count % 16 == 0 else {
            throw .undecryptable(reason: "\(bytes.count) bytes is not a whole number of 16-byte AES blocks")
        }
        let plain: [UInt8]
        do {
            plain = [UInt8](try AES._CBC.decrypt(bytes, using: key, iv: try AES._CBC.IV(ivBytes: [UInt8](repeating: 0, count: 16)), noPadding: true))
        } catch {
            throw .cipherFailed("\(error)")
        }
        guard plain.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw .undecryptable(reason: "decrypts to non-text bytes; is the key (and key_format) the receiver's?")
        }
        return String(decoding: plain, as: UTF8.self)
    }
}
