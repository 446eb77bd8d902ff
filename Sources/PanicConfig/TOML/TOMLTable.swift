/// A TOML table, and the whole document (the root table).
///
/// Read-only once built: the parser is the only writer, during `init`, so
/// sharing across tasks is safe. Every key remembers the line it was
/// defined on, so configuration errors can point at it.
public final class TOMLTable: @unchecked Sendable, Equatable {
    struct Entry {
        var value: TOMLValue
        var line: Int
        /// Made by `[[header]]`, so `[[header]]` may append to it.
        var isArrayOfTables: Bool
    }

    var entries: [String: Entry] = [:]
    var order: [String] = []
    /// The line this table was opened on: its `[header]`, `[[header]]` or
    /// inline `{`; for a table made implicitly (by `[a.b]` or `a.b = 1`)
    /// the line that made it, until a `[header]` of its own defines it.
    public internal(set) var line: Int
    /// How many tables and arrays enclose this one (the root is 0).
    let depth: Int
    /// Defined by a header, or by dotted keys of an earlier section: no
    /// header may define it again, no dotted key may extend it.
    var closed = false
    /// An inline table (or a table made inside one): nothing may add to it.
    var frozen = false

    init(line: Int, depth: Int) {
        self.line = line
        self.depth = depth
    }

    /// Parses a whole TOML document.
    public convenience init(string: String) throws(TOMLSyntaxError) {
        try self.init(bytes: Array(string.utf8))
    }

    /// Parses a whole TOML document given as UTF-8 bytes (a leading BOM is
    /// skipped). Invalid UTF-8 is refused with the line of the bad byte.
    public init(bytes: [UInt8]) throws(TOMLSyntaxError) {
        self.line = 1
        self.depth = 0
        var parser = TOMLParser(bytes: bytes)
        try parser.parseDocument(into: self)
    }

    /// The keys, in the order they were first written.
    public var keys: [String] { order }

    /// The value of `key` in this table (not a dotted path).
    public subscript(key: String) -> TOMLValue? { entries[key]?.value }

    /// Whether this table has `key`.
    public func contains(key: String) -> Bool { entries[key] != nil }

    /// The line where `key` of this table was defined: its `key = value`
    /// line, the `[header]` line of a sub-table (or the line that made it
    /// implicitly), the first `[[header]]` of an array of tables.
    public func line(of key: String) -> Int? { entries[key]?.line }

    /// Same keys with equal values; lines and key order are not compared.
    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        if lhs === rhs { return true }
        guard lhs.entries.count == rhs.entries.count else { return false }
        for (key, entry) in lhs.entries {
            guard let other = rhs.entries[key], other.value == entry.value else { return false }
        }
        return true
    }

    func insert(_ key: String, _ value: TOMLValue, line: Int, isArrayOfTables: Bool = false) {
        entries[key] = Entry(value: value, line: line, isArrayOfTables: isArrayOfTables)
        order.append(key)
    }
}
