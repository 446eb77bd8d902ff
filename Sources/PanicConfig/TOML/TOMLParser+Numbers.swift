/// Integers and floats. Integer literals are accumulated with overflow
/// checks, never trapping; floats are checked against the TOML grammar
/// before conversion.
extension TOMLParser {
    /// A number token: digits, letters, `_ + - .`, checked as a whole.
    mutating func parseNumber() throws(TOMLSyntaxError) -> TOMLValue {
        let start = mark
        var end = pos
        while end < bytes.count, TOMLByte.isNumberToken(bytes[end]) { end += 1 }
        let token = Array(bytes[pos..<end])
        let text = excerpt(pos..<end)
        pos = end
        do {
            return try TOMLNumber.parse(token, text: text)
        } catch {
            throw failure(error.message, at: start)
        }
    }
}

/// Why a number token was refused.
struct TOMLNumberProblem: Error {
    var message: String
}

/// The number grammar of TOML 1.0 on one token.
enum TOMLNumber {
    /// `text` is the token as shown in messages.
    static func parse(_ tok: [UInt8], text: String) throws(TOMLNumberProblem) -> TOMLValue {
        var i = 0
        var negative = false
        var signed = false
        if let first = tok.first, first == TOMLByte.plus || first == TOMLByte.minus {
            signed = true
            negative = first == TOMLByte.minus
            i = 1
        }
        let body = tok[i...]
        if body.elementsEqual("inf".utf8) { return .float(negative ? -Double.infinity : .infinity) }
        if body.elementsEqual("nan".utf8) { return .float(negative ? -Double.nan : .nan) }
        if body.count >= 2, tok[i] == TOMLByte.zero, let radix = prefixRadix(tok[i + 1]) {
            if signed { throw TOMLNumberProblem(message: "invalid number \(text): no sign is allowed on hexadecimal, octal or binary integers") }
            let end = try digitsEnd(tok, from: i + 2, radix: radix, text: text)
            guard end == tok.count else { throw TOMLNumberProblem(message: "invalid number \(text)") }
            return .integer(try integer(tok[(i + 2)...], radix: radix, negative: false, text: text))
        }
        let intStart = i
        let intEnd = try digitsEnd(tok, from: i, radix: 10, text: text)
        if tok[intStart] == TOMLByte.zero && intEnd - intStart > 1 {
            throw TOMLNumberProblem(message: "invalid number \(text): leading zeros are not allowed")
        }
        i = intEnd
        var isFloat = false
        if i < tok.count && tok[i] == TOMLByte.dot {
            isFloat = true
            i = try digitsEnd(tok, from: i + 1, radix: 10, text: text)
        }
        if i < tok.count && (tok[i] == UInt8(ascii: "e") || tok[i] == UInt8(ascii: "E")) {
            isFloat = true
            i += 1
            if i < tok.count && (tok[i] == TOMLByte.plus || tok[i] == TOMLByte.minus) { i += 1 }
            i = try digitsEnd(tok, from: i, radix: 10, text: text)
        }
        guard i == tok.count else { throw TOMLNumberProblem(message: "invalid number \(text)") }
        if isFloat {
            let clean = String(decoding: tok.filter { $0 != TOMLByte.underscore }, as: UTF8.self)
            guard let d = Double(clean), d.isFinite else { throw TOMLNumberProblem(message: "float \(text) is out of range") }
            return .float(d)
        }
        return .integer(try integer(tok[intStart..<intEnd], radix: 10, negative: negative, text: text))
    }

    static func prefixRadix(_ c: UInt8) -> Int? {
        switch c {
        case UInt8(ascii: "x"): return 16
        case UInt8(ascii: "o"): return 8
        case UInt8(ascii: "b"): return 2
        default: return nil
        }
    }

    static func digitValue(_ c: UInt8, radix: Int) -> Int? {
        let v: Int
        switch c {
        case 0x30...0x39: v = Int(c - 0x30)
        case 0x41...0x46: v = Int(c - 0x41) + 10
        case 0x61...0x66: v = Int(c - 0x61) + 10
        default: return nil
        }
        return v < radix ? v : nil
    }

    /// The end of a run of digits from `start`, underscores allowed only
    /// between two digits; at least one digit is required.
    static func digitsEnd(_ tok: [UInt8], from start: Int, radix: Int, text: String) throws(TOMLNumberProblem) -> Int {
        guard start < tok.count, digitValue(tok[start], radix: radix) != nil else {
            if start < tok.count && tok[start] == TOMLByte.underscore {
                throw TOMLNumberProblem(message: "invalid number \(text): an underscore must be between two digits")
            }
            throw TOMLNumberProblem(message: "invalid number \(text): expected a digit")
        }
        var i = start + 1
        while i < tok.count {
            if digitValue(tok[i], radix: radix) != nil {
                i += 1
            } else if tok[i] == TOMLByte.underscore {
                guard i + 1 < tok.count, digitValue(tok[i + 1], radix: radix) != nil else {
                    throw TOMLNumberProblem(message: "invalid number \(text): an underscore must be between two digits")
                }
                i += 2
            } else {
                break
            }
        }
        return i
    }

    /// Digits (and underscores) to an `Int`, refusing overflow. Negative
    /// numbers are accumulated downwards so `Int.min` fits.
    static func integer(_ digits: ArraySlice<UInt8>, radix: Int, negative: Bool, text: String) throws(TOMLNumberProblem) -> Int {
        var value = 0
        for c in digits {
            guard let d = digitValue(c, radix: radix) else { continue }
            let (shifted, o1) = value.multipliedReportingOverflow(by: radix)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(d) : shifted.addingReportingOverflow(d)
            if o1 || o2 {
                throw TOMLNumberProblem(message: "integer \(text) is out of range (\(Int.min) to \(Int.max))")
            }
            value = next
        }
        return value
    }
}
