/// A syntax problem in a TOML document, with the place it was found.
///
/// `line` and `column` are 1-based. The column counts Unicode scalars from
/// the start of the line, so a tab or an "é" each count as one.
public struct TOMLSyntaxError: Error, CustomStringConvertible, Equatable {
    /// The 1-based line of the problem.
    public var line: Int
    /// The 1-based column, in Unicode scalars, of the problem.
    public var column: Int
    /// What is wrong, for a human: `expected a key after '[', found end of file`.
    public var message: String

    /// Makes an error; the parser is the usual author.
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line 3, column 7: expected a key after '[', found end of file`.
    public var description: String { "line \(line), column \(column): \(message)" }
}
