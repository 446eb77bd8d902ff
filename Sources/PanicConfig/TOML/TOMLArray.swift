/// A TOML array: a static one (`[1, "two"]`, mixed types allowed) or an
/// array of tables (`[[inputs]]`).
///
/// Equality compares the elements only, not `line`.
public struct TOMLArray: Sendable, Equatable, RandomAccessCollection {
    /// The values, in the order written.
    public var elements: [TOMLValue]
    /// The line of the opening `[`, or of the first `[[header]]`.
    public var line: Int

    init(elements: [TOMLValue], line: Int) {
        self.elements = elements
        self.line = line
    }

    /// Always 0.
    public var startIndex: Int { elements.startIndex }
    /// The number of elements.
    public var endIndex: Int { elements.endIndex }
    /// The element at `position`, which must be a valid index.
    public subscript(position: Int) -> TOMLValue { elements[position] }

    /// Same elements, in the same order; lines are not compared.
    public static func == (lhs: TOMLArray, rhs: TOMLArray) -> Bool { lhs.elements == rhs.elements }
}
