/// Values: the dispatch on the first byte, arrays and inline tables.
extension TOMLParser {
    /// A value that goes into a container at `depth`.
    mutating func parseValue(depth: Int) throws(TOMLSyntaxError) -> TOMLValue {
        guard let c = peek() else { throw failure("expected a value, found end of file") }
        switch c {
        case TOMLByte.quote:
            if peek(1) == TOMLByte.quote && peek(2) == TOMLByte.quote { return .string(try parseMultiLineBasicString()) }
            return .string(try parseBasicString())
        case TOMLByte.apostrophe:
            if peek(1) == TOMLByte.apostrophe && peek(2) == TOMLByte.apostrophe { return .string(try parseMultiLineLiteralString()) }
            return .string(try parseLiteralString())
        case TOMLByte.openBracket:
            guard depth < Self.maxDepth else { throw tooDeep(at: mark) }
            return .array(try parseArray(depth: depth + 1))
        case TOMLByte.openBrace:
            guard depth < Self.maxDepth else { throw tooDeep(at: mark) }
            return .table(try parseInlineTable(depth: depth + 1))
        case TOMLByte.plus, TOMLByte.minus:
            return try parseNumber()
        default:
            if TOMLByte.isDigit(c) { return looksLikeDateTime() ? try parseDateTime() : try parseNumber() }
            if TOMLByte.isLetter(c) { return try parseWord() }
            throw failure("expected a value, found \(describe(at: pos))")
        }
    }

    /// `true`, `false`, `inf`, `nan`; any other word is refused.
    mutating func parseWord() throws(TOMLSyntaxError) -> TOMLValue {
        let start = mark
        var end = pos
        while end < bytes.count, TOMLByte.isBareKey(bytes[end]) { end += 1 }
        let word = bytes[pos..<end]
        pos = end
        if word.elementsEqual("true".utf8) { return .bool(true) }
        if word.elementsEqual("false".utf8) { return .bool(false) }
        if word.elementsEqual("inf".utf8) { return .float(.infinity) }
        if word.elementsEqual("nan".utf8) { return .float(.nan) }
        throw failure("invalid value '\(excerpt(start.pos..<end))' (strings must be quoted)", at: start)
    }

    /// `[ v, v, ]`: newlines and comments allowed, trailing comma allowed.
    mutating func parseArray(depth: Int) throws(TOMLSyntaxError) -> TOMLArray {
        let open = mark
        pos += 1
        var elements: [TOMLValue] = []
        while true {
            try skipBlank()
            guard let c = peek() else { throw failure("unterminated array (opened on line \(open.line)): expected ']'") }
            if c == TOMLByte.closeBracket {
                pos += 1
                return TOMLArray(elements: elements, line: open.line)
            }
            elements.append(try parseValue(depth: depth))
            try skipBlank()
            switch peek() {
            case TOMLByte.comma?:
                pos += 1
            case TOMLByte.closeBracket?:
                pos += 1
                return TOMLArray(elements: elements, line: open.line)
            case nil:
                throw failure("unterminated array (opened on line \(open.line)): expected ']'")
            default:
                throw failure("expected ',' or ']' in array, found \(describe(at: pos))")
            }
        }
    }

    /// `{ k = v, k.j = v }` on one line, no trailing comma; frozen after.
    mutating func parseInlineTable(depth: Int) throws(TOMLSyntaxError) -> TOMLTable {
        let open = mark
        pos += 1
        let table = TOMLTable(line: open.line, depth: depth)
        var made: [TOMLTable] = []
        skipSpaces()
        if peek() == TOMLByte.closeBrace {
            pos += 1
        } else {
            var context = "'{'"
            while true {
                skipSpaces()
                try refuseNewlineInInlineTable()
                try parseKeyValue(into: table, dotted: &made, keyContext: context)
                skipSpaces()
                try refuseNewlineInInlineTable()
                guard let c = peek() else {
                    throw failure("unterminated inline table (opened on line \(open.line)): expected '}'")
                }
                if c == TOMLByte.closeBrace {
                    pos += 1
                    break
                }
                guard c == TOMLByte.comma else { throw failure("expected ',' or '}' in inline table, found \(describe(at: pos))") }
                pos += 1
                skipSpaces()
                if peek() == TOMLByte.closeBrace { throw failure("trailing comma is not allowed in an inline table") }
                context = "','"
            }
        }
        table.frozen = true
        for t in made { t.frozen = true }
        return table
    }

    func refuseNewlineInInlineTable() throws(TOMLSyntaxError) {
        guard let c = peek() else { return }
        if c == TOMLByte.lf || c == TOMLByte.cr || c == TOMLByte.hash {
            throw failure("an inline table must be on one line (found \(c == TOMLByte.hash ? "a comment" : "end of line") before '}')")
        }
    }
}
