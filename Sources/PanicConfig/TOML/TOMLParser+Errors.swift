/// Building located errors and describing input for messages.
extension TOMLParser {
    /// An error at `m` (default: the current position). The column is
    /// counted in scalars from the start of the line, once, here.
    func failure(_ message: String, at m: Mark? = nil) -> TOMLSyntaxError {
        let m = m ?? mark
        var column = 1
        var i = m.lineStart
        let end = min(m.pos, bytes.count)
        while i < end {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return TOMLSyntaxError(line: m.line, column: column, message: message)
    }

    func invalidUTF8(at offset: Int) -> TOMLSyntaxError {
        var line = 1
        var lineStart = 0
        var i = 0
        while i < offset && i < bytes.count {
            if bytes[i] == TOMLByte.lf {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        let m = Mark(pos: offset, line: line, lineStart: lineStart)
        return failure("invalid UTF-8 at byte \(offset + 1)", at: m)
    }

    func tooDeep(at m: Mark) -> TOMLSyntaxError {
        failure("nested too deeply: at most \(Self.maxDepth) levels of tables and arrays", at: m)
    }

    /// The byte at `i` in words: `'x'`, `end of line`, `end of file`,
    /// `control character U+0000`, `'é' (U+00E9)`.
    func describe(at i: Int) -> String {
        guard i >= 0 && i < bytes.count else { return "end of file" }
        let b = bytes[i]
        switch b {
        case TOMLByte.lf:
            return "end of line"
        case TOMLByte.cr:
            return i + 1 < bytes.count && bytes[i + 1] == TOMLByte.lf ? "end of line" : "carriage return (U+000D)"
        case TOMLByte.tab:
            return "a tab"
        case TOMLByte.space:
            return "a space"
        case 0x21...0x7E:
            return "'\(Character(Unicode.Scalar(b)))'"
        case 0x00..<0x20, 0x7F:
            return "control character \(Self.codePoint(UInt32(b)))"
        default:
            let end = min(i + 4, bytes.count)
            guard let scalar = String(decoding: bytes[i..<end], as: UTF8.self).unicodeScalars.first else { return "a byte" }
            return "'\(Character(scalar))' (\(Self.codePoint(scalar.value)))"
        }
    }

    /// `U+00E9`.
    static func codePoint(_ value: UInt32) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// "an integer", "a string".
    static func article(_ word: String) -> String {
        guard let first = word.first, "aeiou".contains(first) else { return "a \(word)" }
        return "an \(word)"
    }

    /// Key parts joined by dots, quoting the ones that are not bare.
    static func display(_ parts: some Collection<KeyPart>) -> String {
        capped(parts.map { displayKey($0.name) }.joined(separator: "."))
    }

    /// Key parts joined by dots, in one pair of quotes: `"a.b"`, `""`.
    static func quoted(_ parts: some Collection<KeyPart>) -> String {
        "\"" + capped(parts.map { escaped($0.name) }.joined(separator: ".")) + "\""
    }

    /// At most 80 characters of `text`, for messages about hostile input.
    static func capped(_ text: String) -> String {
        guard text.utf8.count > 80 else { return text }
        return String(text.prefix(80)) + "…"
    }

    static func displayKey(_ name: String) -> String {
        if !name.isEmpty && name.utf8.allSatisfy(TOMLByte.isBareKey) { return name }
        return "\"" + escaped(name) + "\""
    }

    /// `"` and `\` escaped, control characters as `\uXXXX`.
    static func escaped(_ name: String) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u" + String(codePoint(scalar.value).dropFirst(2))
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// At most 40 bytes of `bytes[range]` as text, for messages.
    func excerpt(_ range: Range<Int>) -> String {
        let lower = max(0, min(range.lowerBound, bytes.count))
        let upper = max(lower, min(range.upperBound, bytes.count))
        let cut = min(upper, lower + 40)
        let text = String(decoding: bytes[lower..<cut], as: UTF8.self)
        return cut < upper ? text + "…" : text
    }
}
