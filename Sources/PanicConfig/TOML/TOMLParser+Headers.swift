/// `[table]` and `[[array.of.tables]]` headers, and the TOML 1.0 rules on
/// defining a table once.
extension TOMLParser {
    /// Parses a header at `[` and returns the table its section fills.
    mutating func parseHeader(root: TOMLTable) throws(TOMLSyntaxError) -> TOMLTable {
        let open = mark
        pos += 1
        let isArray = peek() == TOMLByte.openBracket
        if isArray { pos += 1 }
        let parts = try parseKey(after: isArray ? "'[['" : "'['")
        skipSpaces()
        let path = Self.display(parts)
        if isArray {
            guard peek() == TOMLByte.closeBracket && peek(1) == TOMLByte.closeBracket else {
                let at = peek() == TOMLByte.closeBracket ? pos + 1 : pos
                throw failure("expected ']]' to close array of tables header [[\(path)]], found \(describe(at: at))")
            }
            pos += 2
        } else {
            guard peek() == TOMLByte.closeBracket else {
                throw failure("expected ']' to close table header [\(path)], found \(describe(at: pos))")
            }
            pos += 1
        }
        var table = root
        for (i, part) in parts.dropLast().enumerated() {
            table = try headerChild(of: table, part, path: Self.display(parts.prefix(i + 1)), line: open.line)
        }
        guard let last = parts.last else { throw failure("expected a key", at: open) }
        return isArray
            ? try appendArrayTable(to: table, last, path: path, line: open.line)
            : try defineTable(in: table, last, path: path, line: open.line)
    }

    /// An intermediate table of a header: walked through (the last element
    /// of an array of tables), or made implicitly.
    mutating func headerChild(of table: TOMLTable, _ part: KeyPart, path: @autoclosure () -> String, line: Int) throws(TOMLSyntaxError) -> TOMLTable {
        guard let entry = table.entries[part.name] else {
            let child = try newTable(under: table, line: line, at: part.mark)
            table.insert(part.name, .table(child), line: line)
            return child
        }
        switch entry.value {
        case .table(let child):
            if child.frozen {
                throw failure("cannot add to inline table \(path()) (defined on line \(entry.line))", at: part.mark)
            }
            return child
        case .array(let array) where entry.isArrayOfTables:
            guard case .table(let lastTable)? = array.elements.last else {
                throw failure("array of tables [[\(path())]] is empty", at: part.mark)
            }
            return lastTable
        default:
            throw failure("key \(path()) is already defined as \(Self.article(entry.value.type)) on line \(entry.line), not a table", at: part.mark)
        }
    }

    /// The last part of `[a.b]`: a new table, or one made implicitly so far.
    mutating func defineTable(in table: TOMLTable, _ part: KeyPart, path: @autoclosure () -> String, line: Int) throws(TOMLSyntaxError) -> TOMLTable {
        guard let entry = table.entries[part.name] else {
            let child = try newTable(under: table, line: line, at: part.mark)
            child.closed = true
            table.insert(part.name, .table(child), line: line)
            return child
        }
        if entry.isArrayOfTables {
            throw failure("table [\(path())] conflicts with array of tables [[\(path())]] (first defined on line \(entry.line))", at: part.mark)
        }
        guard case .table(let child) = entry.value else {
            throw failure("key \(path()) is already defined as \(Self.article(entry.value.type)) on line \(entry.line), not a table", at: part.mark)
        }
        if child.frozen {
            throw failure("cannot add to inline table \(path()) (defined on line \(entry.line))", at: part.mark)
        }
        if child.closed {
            throw failure("table [\(path())] defined twice (first on line \(entry.line))", at: part.mark)
        }
        child.closed = true
        child.line = line
        table.entries[part.name]?.line = line
        return child
    }

    /// The last part of `[[a.b]]`: a new element, in a new array or appended.
    mutating func appendArrayTable(to table: TOMLTable, _ part: KeyPart, path: @autoclosure () -> String, line: Int) throws(TOMLSyntaxError) -> TOMLTable {
        let element = try newTable(under: table, line: line, at: part.mark)
        element.closed = true
        // No copy of the entry may be alive while appending: the array
        // would then be copied each time, quadratic over many [[x]].
        switch table.entries[part.name]?.isArrayOfTables {
        case nil:
            table.insert(part.name, .array(TOMLArray(elements: [.table(element)], line: line)), line: line, isArrayOfTables: true)
            return element
        case true?:
            table.entries[part.name]?.value.appendElement(.table(element))
            return element
        case false?:
            break
        }
        guard let entry = table.entries[part.name] else { throw failure("key \(path()) vanished", at: part.mark) }
        if case .table = entry.value {
            throw failure("array of tables [[\(path())]] conflicts with table [\(path())] (defined on line \(entry.line))", at: part.mark)
        }
        if case .array = entry.value {
            throw failure("cannot append to static array \(path()) (defined on line \(entry.line)) with [[\(path())]]", at: part.mark)
        }
        throw failure("key \(path()) is already defined as \(Self.article(entry.value.type)) on line \(entry.line), not an array of tables", at: part.mark)
    }
}

extension TOMLValue {
    /// Appends to an array in place (no copy of its storage).
    mutating func appendElement(_ element: TOMLValue) {
        guard case .array(var array) = self else { return }
        self = .bool(false)
        array.elements.append(element)
        self = .array(array)
    }
}
