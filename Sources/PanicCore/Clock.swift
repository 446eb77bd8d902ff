/// The clocks that stamping and scheduling read, injected so tests can drive
/// time by hand.
public protocol GatewayClock: Sendable {
    /// CLOCK_MONOTONIC now.
    func monotonicNow() -> MonotonicInstant
    /// CLOCK_REALTIME now.
    func wallNow() -> WallTime
}

extension GatewayClock {
    /// Maps a monotonic instant in the recent past onto the wall clock by the
    /// offset between the two clocks now. Good to the wall clock's accuracy;
    /// a step of the wall clock between the edge and now shifts the result.
    public func wallTime(of instant: MonotonicInstant) -> WallTime {
        let mono = monotonicNow()
        let wall = wallNow()
        return wall + (instant - mono)
    }
}

/// A clock that only moves when told to; for tests.
public final class ManualClock: GatewayClock, @unchecked Sendable {
    private var mono: Int64
    private var wall: Int64
    private let lock = Mutex()

    public init(monotonic: Int64 = 1_000_000_000, wall: Int64 = 1_796_000_000_000_000_000) {
        self.mono = monotonic
        self.wall = wall
    }

    public func monotonicNow() -> MonotonicInstant { lock.withLock { .init(nanoseconds: mono) } }
    public func wallNow() -> WallTime { lock.withLock { .init(nanosecondsSinceEpoch: wall) } }

    /// Moves both clocks forward together.
    public func advance(by d: Nanoseconds) {
        lock.withLock { mono = mono.saturatingAdd(d.value); wall = wall.saturatingAdd(d.value) }
    }
}
