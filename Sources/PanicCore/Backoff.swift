/// Exponential back-off with jitter and a cap, as a pure function of the
/// attempt number and a random draw.
public struct Backoff: Sendable, Equatable {
    public var initial: Nanoseconds
    public var maximum: Nanoseconds
    public var multiplier: Double
    /// Fraction of the delay that is randomised, 0...1 ("equal jitter").
    public var jitter: Double

    public init(initial: Nanoseconds = .milliseconds(250), maximum: Nanoseconds = .seconds(30), multiplier: Double = 2, jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before retry number `attempt` (1 = first retry). `random`
    /// is a draw from 0..<1; tests pass fixed values.
    public func delay(attempt: Int, random: Double) -> Nanoseconds {
        let n = max(1, attempt)
        var base = Double(initial.value)
        for _ in 1..<n {
            base *= multiplier
            if base >= Double(maximum.value) { base = Double(maximum.value); break }
        }
        base = min(base, Double(maximum.value))
        let fixed = base * (1 - jitter)
        let spread = base * jitter * min(max(random, 0), 1)
        return .init(Int64(fixed + spread))
    }
}
