/// The four kinds of string: basic, literal, and their multi-line forms.
extension TOMLParser {
    /// `"..."` with escapes; no newline, no unescaped control character.
    mutating func parseBasicString() throws(TOMLSyntaxError) -> String {
        let open = mark
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw failure("unterminated string: expected a closing '\"'", at: open) }
            switch c {
            case TOMLByte.quote:
                pos += 1
                return String(decoding: out, as: UTF8.self)
            case TOMLByte.backslash:
                try parseEscape(into: &out)
            case TOMLByte.lf, TOMLByte.cr:
                throw failure("unterminated string: end of line before the closing '\"' (use \"\"\" for a multi-line string)")
            default:
                if TOMLByte.isControl(c) { throw unescapedControl(c) }
                out.append(c)
                pos += 1
            }
        }
    }

    /// `'...'`, taken as written; no newline, no control character.
    mutating func parseLiteralString() throws(TOMLSyntaxError) -> String {
        let open = mark
        pos += 1
        let start = pos
        while true {
            guard let c = peek() else { throw failure("unterminated string: expected a closing \"'\"", at: open) }
            if c == TOMLByte.apostrophe {
                let text = String(decoding: bytes[start..<pos], as: UTF8.self)
                pos += 1
                return text
            }
            if c == TOMLByte.lf || c == TOMLByte.cr {
                throw failure("unterminated string: end of line before the closing \"'\" (use ''' for a multi-line string)")
            }
            if TOMLByte.isControl(c) { throw failure("control character \(Self.codePoint(UInt32(c))) is not allowed in a literal string") }
            pos += 1
        }
    }

    /// `"""..."""`: a newline right after the opening quotes is dropped;
    /// a backslash at the end of a line drops the whitespace that follows.
    mutating func parseMultiLineBasicString() throws(TOMLSyntaxError) -> String {
        let open = mark
        pos += 3
        try dropFirstNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw failure("unterminated multi-line string: expected a closing '\"\"\"'", at: open) }
            switch c {
            case TOMLByte.quote:
                if try closeMultiLine(TOMLByte.quote, into: &out) { return String(decoding: out, as: UTF8.self) }
            case TOMLByte.backslash:
                if try skipLineEndingBackslash() { continue }
                try parseEscape(into: &out)
            case TOMLByte.lf, TOMLByte.cr:
                try consumeNewline()
                out.append(TOMLByte.lf)
            default:
                if TOMLByte.isControl(c) { throw unescapedControl(c) }
                out.append(c)
                pos += 1
            }
        }
    }

    /// `'''...'''`, taken as written apart from a first newline dropped.
    mutating func parseMultiLineLiteralString() throws(TOMLSyntaxError) -> String {
        let open = mark
        pos += 3
        try dropFirstNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw failure("unterminated multi-line string: expected a closing \"'''\"", at: open) }
            switch c {
            case TOMLByte.apostrophe:
                if try closeMultiLine(TOMLByte.apostrophe, into: &out) { return String(decoding: out, as: UTF8.self) }
            case TOMLByte.lf, TOMLByte.cr:
                try consumeNewline()
                out.append(TOMLByte.lf)
            default:
                if TOMLByte.isControl(c) { throw failure("control character \(Self.codePoint(UInt32(c))) is not allowed in a literal string") }
                out.append(c)
                pos += 1
            }
        }
    }

    mutating func dropFirstNewline() throws(TOMLSyntaxError) {
        if peek() == TOMLByte.lf || peek() == TOMLByte.cr { try consumeNewline() }
    }

    /// At a run of `quote`s in a multi-line string: one or two are content;
    /// three to five end the string (the extra one or two are content).
    mutating func closeMultiLine(_ quote: UInt8, into out: inout [UInt8]) throws(TOMLSyntaxError) -> Bool {
        var n = 0
        while pos + n < bytes.count, bytes[pos + n] == quote { n += 1 }
        if n < 3 {
            out.append(contentsOf: repeatElement(quote, count: n))
            pos += n
            return false
        }
        if n > 5 {
            throw failure("too many quotes: at most two may come right before the closing ones", at: Mark(pos: pos + 5, line: line, lineStart: lineStart))
        }
        out.append(contentsOf: repeatElement(quote, count: n - 3))
        pos += n
        return true
    }

    /// At `\` in a multi-line basic string: if only whitespace follows on
    /// the line, skips it, the newline and all whitespace after; true then.
    mutating func skipLineEndingBackslash() throws(TOMLSyntaxError) -> Bool {
        var j = pos + 1
        while j < bytes.count, bytes[j] == TOMLByte.space || bytes[j] == TOMLByte.tab { j += 1 }
        guard j < bytes.count, bytes[j] == TOMLByte.lf || bytes[j] == TOMLByte.cr else { return false }
        pos = j
        while let c = peek() {
            if c == TOMLByte.space || c == TOMLByte.tab {
                pos += 1
            } else if c == TOMLByte.lf || c == TOMLByte.cr {
                try consumeNewline()
            } else {
                break
            }
        }
        return true
    }

    /// At `\`: one escape, appended as UTF-8.
    mutating func parseEscape(into out: inout [UInt8]) throws(TOMLSyntaxError) {
        let start = mark
        pos += 1
        guard let e = peek() else { throw failure("unterminated string: a '\\' at the end of the file", at: start) }
        pos += 1
        switch e {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case TOMLByte.quote: out.append(TOMLByte.quote)
        case TOMLByte.backslash: out.append(TOMLByte.backslash)
        case UInt8(ascii: "u"): try parseUnicodeEscape(digits: 4, start: start, into: &out)
        case UInt8(ascii: "U"): try parseUnicodeEscape(digits: 8, start: start, into: &out)
        default:
            throw failure("invalid escape '\\' followed by \(describe(at: pos - 1)); allowed: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX", at: start)
        }
    }

    mutating func parseUnicodeEscape(digits: Int, start: Mark, into out: inout [UInt8]) throws(TOMLSyntaxError) {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let c = peek(), let d = Self.hexValue(c) else {
                throw failure("\\\(digits == 4 ? "u" : "U") must be followed by \(digits) hexadecimal digits", at: start)
            }
            value = value << 4 | d
            pos += 1
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw failure("escape \(Self.codePoint(value)) is not a Unicode scalar value (surrogate or above U+10FFFF)", at: start)
        }
        out.append(contentsOf: scalar.utf8)
    }

    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: return UInt32(c - 0x30)
        case 0x41...0x46: return UInt32(c - 0x41 + 10)
        case 0x61...0x66: return UInt32(c - 0x61 + 10)
        default: return nil
        }
    }

    func unescapedControl(_ c: UInt8) -> TOMLSyntaxError {
        failure("control character \(Self.codePoint(UInt32(c))) must be escaped in a string")
    }
}
