/// UTF-8 validation, done once before parsing so the parser may treat
/// every non-ASCII byte as part of a valid scalar.
enum TOMLUTF8 {
    /// The offset of the first byte of the first invalid sequence, or nil
    /// when all of `bytes` is valid UTF-8 (no overlongs, no surrogates,
    /// nothing above U+10FFFF, no truncated sequence).
    static func firstInvalidByte(in bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 {
                i += 1
                continue
            }
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            let trailing: Int
            switch lead {
            case 0xC2...0xDF: trailing = 1
            case 0xE0: trailing = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE, 0xEF: trailing = 2
            case 0xED: trailing = 2; high = 0x9F
            case 0xF0: trailing = 3; low = 0x90
            case 0xF1...0xF3: trailing = 3
            case 0xF4: trailing = 3; high = 0x8F
            default: return i
            }
            for k in 1...trailing {
                let j = i + k
                guard j < n else { return i }
                let byte = bytes[j]
                let (lo, hi) = k == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
                guard byte >= lo && byte <= hi else { return i }
            }
            i += trailing + 1
        }
        return nil
    }
}
