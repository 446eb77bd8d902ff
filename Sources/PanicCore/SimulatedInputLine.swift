/// One line written to a simulated input's FIFO: `1` (asserted) or `0`
/// (released), optionally followed by a CLOCK_MONOTONIC time in nanoseconds.
/// Pure, so it can be fuzzed; the source does the reading and the clock.
public enum SimulatedInputLine {
    /// Stamps outside this are refused where they are decoded: positive, and
    /// far enough below `Int64.max` that debounce windows added to them fit.
    public static let acceptedStamps: ClosedRange<Int64> = 1...(1 << 62)

    /// Why a line was refused, in words for the log.
    public struct Problem: Error, Equatable {
        public var message: String
    }

    public static func parse(_ line: [UInt8]) -> Result<(asserted: Bool, stamp: Int64?), Problem> {
        let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        guard (1...2).contains(fields.count), fields[0].count == 1,
              let level = fields[0].first, level == UInt8(ascii: "0") || level == UInt8(ascii: "1")
        else { return .failure(.init(message: "expected `0` or `1`, optionally followed by a monotonic time in ns")) }
        guard fields.count == 2 else { return .success((level == UInt8(ascii: "1"), nil)) }
        guard let text = String(validating: fields[1], as: UTF8.self), let ns = Int64(text), acceptedStamps.contains(ns) else {
            return .failure(.init(message: "the time must be a positive integer of nanoseconds on CLOCK_MONOTONIC, at most 2^62"))
        }
        return .success((level == UInt8(ascii: "1"), ns))
    }
}
