import PanicCore

/// A token bucket: `rate` per second sustained, `burst` at once. Pure: the
/// caller passes the time.
public struct TokenBucket: Sendable, Equatable {
    public let rate: Int64
    public let burst: Int64
    /// Tokens in millionths, so refills of less than one token are kept.
    private var micros: Int64
    private var last: Int64

    public init(rate: Int, burst: Int, now: Int64) {
        self.rate = Int64(max(1, rate))
        self.burst = Int64(max(1, burst))
        self.micros = self.burst.saturatingMultiply(1_000_000)
        self.last = now
    }

    /// Takes one token at `now` (nanoseconds on any steady clock): nil when
    /// allowed, else the nanoseconds until a token is there.
    public mutating func take(now: Int64) -> Int64? {
        let elapsed = max(0, now.saturatingSubtract(last))
        last = max(last, now)
        // rate tokens per second = rate micro-tokens per microsecond.
        let refill = (elapsed / 1_000).saturatingMultiply(rate)
        micros = min(burst.saturatingMultiply(1_000_000), micros.saturatingAdd(refill))
        if micros >= 1_000_000 {
            micros -= 1_000_000
            return nil
        }
        let missing = 1_000_000 - micros
        return (missing / rate + 1).saturatingMultiply(1_000)
    }
}

/// One bucket per gateway id (verified, so the table's size is bounded by the
/// number of configured gateways): a gateway's key cannot fill the disk.
public final class GatewayRateLimiter: Sendable {
    private let rate: Int
    private let burst: Int
    private let buckets = Locked<[String: TokenBucket]>([:])

    public init(rate: Int, burst: Int) {
        self.rate = rate
        self.burst = burst
    }

    /// nil when allowed; else whole seconds to wait (at least 1).
    public func admit(_ gatewayID: String, now: Int64) -> Int? {
        buckets.mutate { b in
            var bucket = b[gatewayID] ?? TokenBucket(rate: rate, burst: burst, now: now)
            let wait = bucket.take(now: now)
            b[gatewayID] = bucket
            return wait.map { Int(min(3_600, max(1, ($0 + 999_999_999) / 1_000_000_000))) }
        }
    }
}
