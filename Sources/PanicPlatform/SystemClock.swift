import CPanicSys
import PanicCore

/// The real clocks: CLOCK_MONOTONIC (the clock the kernel stamps GPIO edges
/// with) and CLOCK_REALTIME.
public struct SystemClock: GatewayClock {
    public init() {}
    public func monotonicNow() -> MonotonicInstant { .init(nanoseconds: cpanic_monotonic_ns()) }
    public func wallNow() -> WallTime { .init(nanosecondsSinceEpoch: cpanic_realtime_ns()) }
}

/// The wall clock's discipline as the kernel sees it (read-only adjtimex).
public struct ClockDiscipline: Sendable, Equatable, Codable {
    /// The kernel considers the clock synchronised (no TIME_ERROR, no STA_UNSYNC).
    public var synchronized: Bool
    /// Estimated error, microseconds, as the time daemon last set it.
    public var estimatedErrorMicroseconds: Int
    /// Maximum error, microseconds.
    public var maximumErrorMicroseconds: Int

    /// Reads adjtimex; if even that fails the clock is reported unsynchronised.
    public static func current() -> ClockDiscipline {
        var s = cpanic_clock_status()
        guard cpanic_clock_status_read(&s) == 0 else {
            return .init(synchronized: false, estimatedErrorMicroseconds: -1, maximumErrorMicroseconds: -1)
        }
        let synced = s.state != CPANIC_TIME_ERROR && s.unsynchronised == 0
        return .init(synchronized: synced, estimatedErrorMicroseconds: Int(s.esterror_us), maximumErrorMicroseconds: Int(s.maxerror_us))
    }
}
