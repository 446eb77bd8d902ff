/// Arithmetic that clamps at the ends of `Int64` instead of trapping.
///
/// Every number that arrives from outside (a network body, a signature
/// parameter, a FIFO stamp, a device) is range-checked where it is decoded;
/// the time types below also do their arithmetic with these, so a value that
/// slipped past a check still cannot crash the process. A Swift runtime trap
/// reachable from input is a remote shutdown of an alarm system.
extension Int64 {
    /// `self + other`, clamped to `Int64.min...Int64.max`.
    @inlinable
    public func saturatingAdd(_ other: Int64) -> Int64 {
        let (v, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : v
    }

    /// `self - other`, clamped.
    @inlinable
    public func saturatingSubtract(_ other: Int64) -> Int64 {
        let (v, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : v
    }

    /// `self * other`, clamped.
    @inlinable
    public func saturatingMultiply(_ other: Int64) -> Int64 {
        let (v, overflow) = multipliedReportingOverflow(by: other)
        guard overflow else { return v }
        return (self < 0) == (other < 0) ? .max : .min
    }
}

extension Int {
    /// `self + other`, clamped to `Int.min...Int.max`.
    @inlinable
    public func saturatingAdd(_ other: Int) -> Int {
        let (v, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : v
    }

    /// `self * other`, clamped.
    @inlinable
    public func saturatingMultiply(_ other: Int) -> Int {
        let (v, overflow) = multipliedReportingOverflow(by: other)
        guard overflow else { return v }
        return (self < 0) == (other < 0) ? .max : .min
    }
}

extension Double {
    /// This many seconds as whole nanoseconds, clamped to `0...maximum`
    /// (NaN is 0): for timeouts a client sends as floating point.
    @inlinable
    public func clampedNanoseconds(maximum: Int64) -> Int64 {
        guard self.isFinite, self > 0 else { return 0 }
        let ns = self * 1e9
        return ns >= Double(maximum) ? maximum : Int64(ns)
    }
}
