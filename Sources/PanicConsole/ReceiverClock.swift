#if canImport(Glibc)
import Glibc
#endif
import PanicCore

/// The receiver host's clocks (the gateway's SystemClock lives in
/// PanicPlatform, which a receiver does not link).
public struct ReceiverClock: GatewayClock {
    public init() {}
    public func monotonicNow() -> MonotonicInstant { MonotonicInstant(nanoseconds: Self.read(CLOCK_MONOTONIC)) }
    public func wallNow() -> WallTime { WallTime(nanosecondsSinceEpoch: Self.read(CLOCK_REALTIME)) }
    static func read(_ id: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return Int64(ts.tv_sec).saturatingMultiply(1_000_000_000).saturatingAdd(Int64(ts.tv_nsec))
    }
}
