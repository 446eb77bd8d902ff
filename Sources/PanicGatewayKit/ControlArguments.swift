/// Range checks for the numbers a control-socket client sends, applied
/// where the request is decoded: a JSON number can be −1e300, 1e19 or NaN,
/// and `Int(x)` of any of those traps.
enum ControlArguments {
    /// The timeouts a client may ask for, in seconds.
    static let secondsRange = 1.0...600.0
    static let secondsProblem = "\"timeout_s\" must be a number of seconds from 1 to 600"

    /// A timeout in seconds: `fallback` when absent, nil when out of range.
    static func seconds(_ value: Any?, default fallback: Double) -> Double? {
        guard let value else { return fallback }
        let d: Double
        if let v = value as? Double { d = v } else if let v = value as? Int { d = Double(v) } else { return nil }
        return d.isFinite && secondsRange.contains(d) ? d : nil
    }

    /// A whole count: `fallback` when absent, nil when not a whole number in `range`.
    static func count(_ value: Any?, default fallback: Int, range: ClosedRange<Int>) -> Int? {
        guard let value else { return fallback }
        if let v = value as? Int { return range.contains(v) ? v : nil }
        if let v = value as? Double, v.isFinite, v.rounded() == v, v >= Double(range.lowerBound), v <= Double(range.upperBound) { return Int(v) }
        return nil
    }
}
