/// The ASCII bytes the TOML grammar is made of, and byte classes.
enum TOMLByte {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22       // "
    static let hash: UInt8 = 0x23        // #
    static let apostrophe: UInt8 = 0x27  // '
    static let plus: UInt8 = 0x2B
    static let comma: UInt8 = 0x2C
    static let minus: UInt8 = 0x2D
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let colon: UInt8 = 0x3A
    static let equals: UInt8 = 0x3D
    static let openBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let closeBracket: UInt8 = 0x5D
    static let underscore: UInt8 = 0x5F
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D

    static func isDigit(_ b: UInt8?) -> Bool {
        guard let b else { return false }
        return b >= 0x30 && b <= 0x39
    }

    static func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    /// A-Z a-z 0-9 _ -
    static func isBareKey(_ b: UInt8) -> Bool { isLetter(b) || isDigit(b) || b == underscore || b == minus }

    /// Bytes that may appear in a number token: digits, letters (hex, e,
    /// inf, nan), _ + - and the decimal point.
    static func isNumberToken(_ b: UInt8) -> Bool { isBareKey(b) || b == plus || b == dot }

    /// Control characters TOML refuses outside strings and comments, and
    /// unescaped inside them: U+0000-U+001F except tab, and U+007F.
    /// (Newlines are handled before this is asked.)
    static func isControl(_ b: UInt8) -> Bool { (b < 0x20 && b != tab) || b == 0x7F }
}
