import PanicCore

/// Slows down password guessing, per operator name: the first few failures
/// cost nothing, each one after that doubles a wait (1 s, 2 s, 4 s … at most
/// `maximumDelay`) during which every attempt for that name is refused, even
/// with the right password. Pure: the caller passes the monotonic time.
public struct LoginThrottle: Sendable {
    /// Failures in a row allowed before any wait.
    public var freeFailures: Int
    public var firstDelay: Nanoseconds
    public var maximumDelay: Nanoseconds
    /// A name with no failure for this long is forgotten.
    public var forgetAfter: Nanoseconds
    /// Names tracked at most (guessing across many names must not grow memory).
    public var capacity: Int

    struct Entry: Sendable {
        var failures: Int
        var blockedUntil: MonotonicInstant?
        var last: MonotonicInstant
    }
    private var entries: [String: Entry] = [:]

    public init(freeFailures: Int = 5, firstDelay: Nanoseconds = .seconds(1), maximumDelay: Nanoseconds = .seconds(60),
                forgetAfter: Nanoseconds = .seconds(900), capacity: Int = 10_000) {
        self.freeFailures = freeFailures
        self.firstDelay = firstDelay
        self.maximumDelay = maximumDelay
        self.forgetAfter = forgetAfter
        self.capacity = capacity
    }

    /// nil when an attempt for `name` may be checked now; else how long to wait.
    public mutating func waitBefore(_ name: String, now: MonotonicInstant) -> Nanoseconds? {
        guard let e = entries[name] else { return nil }
        if now - e.last > forgetAfter, e.blockedUntil.map({ now >= $0 }) ?? true {
            entries[name] = nil
            return nil
        }
        if let until = e.blockedUntil, now < until { return until - now }
        return nil
    }

    /// A wrong password (or an unknown name) for `name`.
    public mutating func failed(_ name: String, now: MonotonicInstant) {
        if entries[name] == nil, entries.count >= capacity { forgetOldest() }
        var e = entries[name] ?? Entry(failures: 0, blockedUntil: nil, last: now)
        e.failures = e.failures.saturatingAdd(1)
        e.last = now
        let over = e.failures - freeFailures
        if over > 0 {
            // 1 s · 2^(over-1), capped; the shift is bounded so it cannot overflow.
            let doubled = firstDelay.value.saturatingMultiply(Int64(1) << Int64(min(over - 1, 30)))
            e.blockedUntil = now + Nanoseconds(min(doubled, maximumDelay.value))
        }
        entries[name] = e
    }

    /// A good password: the name starts over.
    public mutating func succeeded(_ name: String) { entries[name] = nil }

    /// Failures counted for `name` (for logs and tests).
    public func failures(_ name: String) -> Int { entries[name]?.failures ?? 0 }

    private mutating func forgetOldest() {
        // Rare (only when full): a linear scan is cheaper than keeping an order.
        if let oldest = entries.min(by: { $0.value.last < $1.value.last })?.key { entries[oldest] = nil }
    }
}
