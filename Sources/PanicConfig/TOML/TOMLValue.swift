/// One value of a TOML document.
///
/// Equality compares content only: source lines and key order are ignored.
public enum TOMLValue: Sendable, Equatable {
    /// A string, escapes resolved, CRLF in multi-line strings read as LF.
    case string(String)
    /// A 64-bit integer; a literal out of range is a syntax error.
    case integer(Int)
    /// A float, including `inf`, `-inf` and `nan`.
    case float(Double)
    /// `true` or `false`.
    case bool(Bool)
    /// An array, static (`[1, 2]`) or of tables (`[[x]]`).
    case array(TOMLArray)
    /// A table: `[header]`, dotted-key intermediate or inline `{ ... }`.
    case table(TOMLTable)
    /// A date-time, local date-time, local date or local time, exactly as
    /// written (`1979-05-27T07:32:00Z`). Checked for shape and ranges only.
    case datetime(String)
}

extension TOMLValue {
    /// The string, if this is one.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer, if this is one (a float is not).
    public var int: Int? {
        if case .integer(let n) = self { return n }
        return nil
    }

    /// The number as a `Double`: a float, or an integer converted.
    public var double: Double? {
        switch self {
        case .float(let d): return d
        case .integer(let n): return Double(n)
        default: return nil
        }
    }

    /// The boolean, if this is one.
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The table, if this is one.
    public var table: TOMLTable? {
        if case .table(let t) = self { return t }
        return nil
    }

    /// The array, if this is one.
    public var array: TOMLArray? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The kind of value in a word for messages: "string", "integer",
    /// "float", "boolean", "array", "table" or "date-time".
    public var type: String {
        switch self {
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .bool: return "boolean"
        case .array: return "array"
        case .table: return "table"
        case .datetime: return "date-time"
        }
    }
}
