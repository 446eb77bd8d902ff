/// Reads a TOML 1.0 document from UTF-8 bytes into `TOMLTable`s.
///
/// One pass over the bytes; recursion only for nested arrays and inline
/// tables, at most `maxDepth` deep; no arithmetic on input-derived numbers
/// that can trap. Every problem is a `TOMLSyntaxError` with line and column.
struct TOMLParser {
    /// How deep tables, arrays and inline tables may nest, all counted
    /// together (the root table is depth 0).
    static let maxDepth = 64

    /// A place in the input.
    struct Mark {
        var pos: Int
        var line: Int
        var lineStart: Int
    }

    /// One part of a (possibly dotted) key, and where it was written.
    struct KeyPart {
        var name: String
        var mark: Mark
    }

    let bytes: [UInt8]
    var pos = 0
    var line = 1
    var lineStart = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var mark: Mark { Mark(pos: pos, line: line, lineStart: lineStart) }

    func peek(_ offset: Int = 0) -> UInt8? {
        let i = pos + offset
        return i < bytes.count ? bytes[i] : nil
    }

    // MARK: Document

    /// Parses the whole input into `root`.
    mutating func parseDocument(into root: TOMLTable) throws(TOMLSyntaxError) {
        if let bad = TOMLUTF8.firstInvalidByte(in: bytes) { throw invalidUTF8(at: bad) }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            pos = 3
            lineStart = 3
        }
        var current = root
        // Tables made or extended by dotted keys in this section: they are
        // closed when the section ends.
        var dotted: [TOMLTable] = []
        while true {
            skipSpaces()
            guard let c = peek() else { return }
            switch c {
            case TOMLByte.hash:
                try skipComment()
            case TOMLByte.lf, TOMLByte.cr:
                try consumeNewline()
            case TOMLByte.openBracket:
                for t in dotted { t.closed = true }
                dotted.removeAll()
                current = try parseHeader(root: root)
                try finishLine(after: "the table header")
            default:
                try parseKeyValue(into: current, dotted: &dotted, keyContext: nil)
                try finishLine(after: "the value")
            }
        }
    }

    // MARK: Key-value pairs

    /// `key = value`, the key possibly dotted, into `table`. Tables the
    /// dotted key walks through or makes are appended to `dotted`.
    mutating func parseKeyValue(into table: TOMLTable, dotted: inout [TOMLTable], keyContext: String?) throws(TOMLSyntaxError) {
        let parts = try parseKey(after: keyContext)
        skipSpaces()
        guard peek() == TOMLByte.equals else {
            throw failure("expected '=' after key \(Self.display(parts)), found \(describe(at: pos))")
        }
        pos += 1
        skipSpaces()
        var target = table
        for (i, part) in parts.dropLast().enumerated() {
            target = try dottedChild(of: target, part, path: Self.display(parts.prefix(i + 1)))
            dotted.append(target)
        }
        guard let last = parts.last else { throw failure("expected a key") }
        if let first = target.entries[last.name] {
            throw failure("duplicate key \(Self.quoted(parts)) (first defined on line \(first.line))", at: last.mark)
        }
        let value = try parseValue(depth: target.depth)
        target.insert(last.name, value, line: last.mark.line)
    }

    /// The table under `part` for a dotted key, made if missing.
    mutating func dottedChild(of table: TOMLTable, _ part: KeyPart, path: @autoclosure () -> String) throws(TOMLSyntaxError) -> TOMLTable {
        guard let entry = table.entries[part.name] else {
            let child = try newTable(under: table, line: part.mark.line, at: part.mark)
            table.insert(part.name, .table(child), line: part.mark.line)
            return child
        }
        if case .table(let child) = entry.value {
            if child.frozen {
                throw failure("cannot add to inline table \(path()) (defined on line \(entry.line))", at: part.mark)
            }
            if child.closed {
                throw failure("dotted key cannot add to table \(path()), already defined on line \(entry.line)", at: part.mark)
            }
            return child
        }
        if entry.isArrayOfTables {
            throw failure("dotted key cannot add to array of tables [[\(path())]] (first defined on line \(entry.line))", at: part.mark)
        }
        throw failure("key \(path()) is already defined as \(Self.article(entry.value.type)) on line \(entry.line), not a table", at: part.mark)
    }

    /// A fresh table one level below `parent`, refused beyond `maxDepth`.
    func newTable(under parent: TOMLTable, line: Int, at m: Mark) throws(TOMLSyntaxError) -> TOMLTable {
        let depth = parent.depth + 1
        guard depth <= Self.maxDepth else { throw tooDeep(at: m) }
        return TOMLTable(line: line, depth: depth)
    }

    // MARK: Keys

    /// A simple or dotted key. `context` names what came before, for the
    /// message when there is no key: `'['`, `'{'`, `','`.
    mutating func parseKey(after context: String?) throws(TOMLSyntaxError) -> [KeyPart] {
        var parts: [KeyPart] = []
        var context = context
        while true {
            skipSpaces()
            parts.append(try parseSimpleKey(after: context))
            skipSpaces()
            guard peek() == TOMLByte.dot else { return parts }
            pos += 1
            context = "'.'"
        }
    }

    mutating func parseSimpleKey(after context: String?) throws(TOMLSyntaxError) -> KeyPart {
        let start = mark
        guard let c = peek() else { throw expectedKey(after: context) }
        if TOMLByte.isBareKey(c) {
            var end = pos
            while end < bytes.count, TOMLByte.isBareKey(bytes[end]) { end += 1 }
            let name = String(decoding: bytes[pos..<end], as: UTF8.self)
            pos = end
            return KeyPart(name: name, mark: start)
        }
        if c == TOMLByte.quote || c == TOMLByte.apostrophe {
            if peek(1) == c && peek(2) == c { throw failure("a key cannot be a multi-line string") }
            let name = c == TOMLByte.quote ? try parseBasicString() : try parseLiteralString()
            return KeyPart(name: name, mark: start)
        }
        throw expectedKey(after: context)
    }

    func expectedKey(after context: String?) -> TOMLSyntaxError {
        let found = describe(at: pos)
        if let context { return failure("expected a key after \(context), found \(found)") }
        return failure("expected a key, found \(found)")
    }

    // MARK: Whitespace, comments, newlines

    mutating func skipSpaces() {
        while pos < bytes.count, bytes[pos] == TOMLByte.space || bytes[pos] == TOMLByte.tab { pos += 1 }
    }

    /// From `#` to the end of the line (the newline is left in place).
    mutating func skipComment() throws(TOMLSyntaxError) {
        pos += 1
        while pos < bytes.count {
            let b = bytes[pos]
            if b == TOMLByte.lf || (b == TOMLByte.cr && peek(1) == TOMLByte.lf) { return }
            if TOMLByte.isControl(b) {
                throw failure("control character \(Self.codePoint(UInt32(b))) is not allowed in a comment")
            }
            pos += 1
        }
    }

    /// LF or CRLF; a lone CR is refused.
    mutating func consumeNewline() throws(TOMLSyntaxError) {
        if peek() == TOMLByte.cr {
            guard peek(1) == TOMLByte.lf else { throw failure("carriage return (U+000D) not followed by a line feed") }
            pos += 1
        }
        pos += 1
        line += 1
        lineStart = pos
    }

    /// Spaces, then an optional comment, then a newline or the end.
    mutating func finishLine(after what: String) throws(TOMLSyntaxError) {
        skipSpaces()
        if peek() == TOMLByte.hash { try skipComment() }
        guard let c = peek() else { return }
        if c == TOMLByte.lf || c == TOMLByte.cr {
            try consumeNewline()
            return
        }
        throw failure("expected end of line after \(what), found \(describe(at: pos))")
    }

    /// Spaces, newlines and comments, as allowed inside arrays.
    mutating func skipBlank() throws(TOMLSyntaxError) {
        while true {
            skipSpaces()
            guard let c = peek() else { return }
            if c == TOMLByte.hash {
                try skipComment()
            } else if c == TOMLByte.lf || c == TOMLByte.cr {
                try consumeNewline()
            } else {
                return
            }
        }
    }
}
