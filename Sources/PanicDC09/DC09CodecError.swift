/// Why a frame could not be built or read: what was wrong and where.
public enum DC09CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A field given for a frame to build does not fit the standard.
    case invalidField(field: String, value: String, allowed: String)
    /// The built frame would exceed the three hex digits of its length field.
    case frameTooLong(bytes: Int)
    /// The key is not 16, 24 or 32 bytes.
    case invalidKeyLength(Int)
    /// An injected pad does not have the length the standard's padding requires.
    case invalidPad(pad: String, requiredLength: Int)
    /// The AES implementation refused (should not happen with a checked key).
    case cipherFailed(String)
    /// Nothing but whitespace was received.
    case empty
    /// More bytes than `DC09.maximumReplyBytes` without a complete frame.
    case oversized(bytes: Int)
    /// Not DC-09 framing; `offset` counts bytes from the start of what was received.
    case malformed(reason: String, offset: Int)
    /// The length field disagrees with the bytes between `"` and CR.
    case lengthMismatch(declared: Int, actual: Int)
    /// The CRC field disagrees with the bytes between `"` and CR.
    case crcMismatch(declared: String, computed: String)
    /// An encrypted frame (`"*…"`) but no key is configured for the account.
    case encryptedWithoutKey
    /// The encrypted part is not hex, not whole AES blocks, or decrypts to
    /// something that is not text (wrong key?).
    case undecryptable(reason: String)

    public var description: String {
        switch self {
        case .invalidField(let f, let v, let a): "DC-09 frame: \(f) \"\(v)\" is not allowed; \(a)"
        case .frameTooLong(let n): "DC-09 frame: \(n) bytes between the quote and CR; the length field allows at most 4095"
        case .invalidKeyLength(let n): "DC-09 key: \(n) bytes; AES needs 16, 24 or 32"
        case .invalidPad(let p, let n): "DC-09 pad \"\(p)\": must be \(n) characters of A-Z a-z 0-9 to fill the last AES block"
        case .cipherFailed(let why): "DC-09 AES-CBC failed: \(why)"
        case .empty: "DC-09 reply: empty"
        case .oversized(let n): "DC-09 reply: \(n) bytes without a complete frame (at most \(DC09.maximumReplyBytes) accepted)"
        case .malformed(let r, let o): "DC-09 reply: not a frame at byte \(o): \(r)"
        case .lengthMismatch(let d, let a): "DC-09 reply: length field says \(d) bytes, \(a) received"
        case .crcMismatch(let d, let c): "DC-09 reply: CRC \(d) received, \(c) computed"
        case .encryptedWithoutKey: "DC-09 reply: encrypted, but no key is configured for this account"
        case .undecryptable(let r): "DC-09 reply: encrypted part cannot be decrypted: \(r)"
        }
    }
}
