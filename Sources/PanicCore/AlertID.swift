/// UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then randomness, so ids
/// sort by creation time and never collide across gateways.
public final class AlertIDGenerator: @unchecked Sendable {
    private let state = Mutex()
    private var lastMillis: Int64 = 0
    private var counter: UInt16 = 0

    public init() {}

    /// A new id for `time`; ids made within one millisecond still increase.
    public func next(at time: WallTime) -> String {
        var rng = SystemRandomNumberGenerator()
        let ms = max(0, time.nanosecondsSinceEpoch / 1_000_000)
        let (millis, seq): (Int64, UInt16) = state.withLock {
            if ms > lastMillis { lastMillis = ms; counter = UInt16.random(in: 0..<0x400, using: &rng) }
            else { counter &+= 1; if counter > 0xFFF { lastMillis += 1; counter = 0 } }
            return (lastMillis, counter)
        }
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: millis >> (40 - 8 * Int64(i))) }
        b[6] = 0x70 | UInt8(truncatingIfNeeded: seq >> 8) & 0x0F
        b[7] = UInt8(truncatingIfNeeded: seq)
        let tail = rng.next() as UInt64
        for i in 0..<8 { b[8 + i] = UInt8(truncatingIfNeeded: tail >> (56 - 8 * UInt64(i))) }
        b[8] = 0x80 | (b[8] & 0x3F)
        let hex = b.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    /// Whether `text` is a lowercase UUIDv7 in canonical form.
    public static func isValid(_ text: String) -> Bool {
        let c = Array(text.utf8)
        guard c.count == 36 else { return false }
        for (i, ch) in c.enumerated() {
            if [8, 13, 18, 23].contains(i) { if ch != UInt8(ascii: "-") { return false }; continue }
            let hex = (ch >= 48 && ch <= 57) || (ch >= 97 && ch <= 102)
            if !hex { return false }
        }
        return c[14] == UInt8(ascii: "7")
    }
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
