/// Which electrical bias to request on an input line.
public enum GPIOBias: String, CaseIterable, Sendable, Equatable {
    case pullUp = "pull-up", pullDown = "pull-down", disable, asIs = "as-is"
}

/// A line by its offset on the chip, or by the name the board gives it.
public enum GPIOLineSelector: Sendable, Equatable, CustomStringConvertible {
    case offset(Int)
    case name(String)

    public var description: String {
        switch self {
        case .offset(let o): "line \(o)"
        case .name(let n): "line \"\(n)\""
        }
    }
}

