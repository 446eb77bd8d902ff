extension TOMLTable {
    func array(for key: String) -> TOMLArray? { self[key]?.array }
}

/// Reads one TOML table, recording located errors instead of stopping at the
/// first, and refusing keys nobody asked for. Public so that a module with a
/// section of its own (a destination type, say) reads it the same way.
public final class TableReader {
    public let table: TOMLTable
    public let path: String
    let context: ReadContext
    private var consumed: Set<String> = []

    init(_ table: TOMLTable, path: String, context: ReadContext) {
        self.table = table
        self.path = path
        self.context = context
    }

    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Records a problem with `key` of this table (or the table itself), at
    /// the line the parser saw it on.
    public func fail(_ key: String?, _ message: String) {
        let line = key.flatMap { table.line(of: $0) } ?? (path.isEmpty ? nil : table.line)
        context.fail(key.map(keyPath) ?? (path.isEmpty ? nil : path), line: line, message)
    }

    private func value(_ key: String) -> TOMLValue? {
        markConsumed(key)
        return table[key]
    }

    public func string(_ key: String, required: Bool = false, allowed: String? = nil, check: ((String) -> String?)? = nil) -> String? {
        guard let v = value(key) else {
            if required { fail(key, "required; \(allowed ?? "a string")") }
            return nil
        }
        guard let s = v.string else { fail(key, "must be a string, not \(v.type)"); return nil }
        if let check, let problem = check(s) { fail(key, problem); return nil }
        return s
    }

    public func int(_ key: String, required: Bool = false, range: ClosedRange<Int>, unit: String = "") -> Int? {
        guard let v = value(key) else {
            if required { fail(key, "required; an integer from \(range.lowerBound) to \(range.upperBound)\(unit)") }
            return nil
        }
        guard let n = v.int else { fail(key, "must be an integer from \(range.lowerBound) to \(range.upperBound)\(unit), not \(v.type)"); return nil }
        guard range.contains(n) else { fail(key, "must be an integer from \(range.lowerBound) to \(range.upperBound)\(unit) (got \(n))"); return nil }
        return n
    }

    public func bool(_ key: String) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { fail(key, "must be true or false, not \(v.type)"); return nil }
        return b
    }

    public func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type, required: Bool = false) -> T? where T.RawValue == String {
        let allowed = "one of: " + T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard let s = string(key, required: required, allowed: allowed) else { return nil }
        guard let t = T(rawValue: s) else { fail(key, "\"\(s)\" is not allowed; \(allowed)"); return nil }
        return t
    }

    public func table(_ key: String, required: Bool = false) -> TableReader? {
        guard let v = value(key) else {
            if required { fail(key, "required table is missing") }
            return nil
        }
        guard let t = v.table else { fail(key, "must be a table, not \(v.type)"); return nil }
        return TableReader(t, path: keyPath(key), context: context)
    }

    public func tables(_ key: String) -> [TableReader]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { fail(key, "must be an array of tables ([[\(keyPath(key))]]), not \(v.type)"); return nil }
        var out: [TableReader] = []
        for (i, item) in a.enumerated() {
            guard let t = item.table else { fail(key, "item \(i) must be a table, not \(item.type)"); continue }
            out.append(TableReader(t, path: "\(keyPath(key))[\(i)]", context: context))
        }
        return out
    }

    /// Marks `key` as read (known here) without reading it through this reader.
    public func markConsumed(_ key: String) {
        consumed.insert(key)
        context.read(keyPath(key))
    }

    /// After a fatal problem with the table itself: no complaints about the rest.
    public func markConsumedAll() { for k in table.keys { consumed.insert(k) } }

    /// Call once every known key was read: anything left is an error.
    public func rejectUnknownKeys() {
        let known = consumed.sorted().joined(separator: ", ")
        for key in table.keys where !consumed.contains(key) {
            fail(key, "unknown key; allowed here: \(known)")
        }
    }
}

/// The file being read and the errors found so far.
final class ReadContext {
    let file: String
    var errors: [ConfigError] = []
    /// Every key path the loader looked for, array indices written `[]`:
    /// the loader's own list of the keys it accepts (what
    /// `rejectUnknownKeys` lets through), for the configuration reference.
    private(set) var keysRead: Set<String> = []

    func read(_ path: String) {
        var out = ""
        var skipping = false
        for ch in path {
            if ch == "[" { skipping = true; out.append("[]"); continue }
            if skipping { if ch == "]" { skipping = false }; continue }
            out.append(ch)
        }
        keysRead.insert(out)
    }

    init(file: String) {
        self.file = file
    }

    func fail(_ key: String?, line: Int?, _ message: String) {
        errors.append(ConfigError(file: file, line: line, key: key, message: message))
    }

    /// Parses TOML text; a syntax error comes back located. The parser is
    /// our own, in Swift, and fuzzed: no input makes it abort.
    static func parse(_ text: String, file: String) throws(ConfigErrors) -> (TOMLTable, ReadContext) {
        try parse(bytes: Array(text.utf8), file: file)
    }

    /// The same from the file's bytes, so invalid UTF-8 is located too.
    static func parse(bytes: [UInt8], file: String) throws(ConfigErrors) -> (TOMLTable, ReadContext) {
        do {
            return (try TOMLTable(bytes: bytes), ReadContext(file: file))
        } catch {
            throw ConfigErrors(errors: [ConfigError(file: file, line: error.line, key: nil, message: "TOML syntax: \(error.message)")])
        }
    }
}
