import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in UTC, in nanoseconds since the Unix epoch.
///
/// Encoded as RFC 3339 with microseconds (`2026-11-29T09:10:11.123456Z`), the
/// form both ends of the uplink agree on.
public struct WallTime: Comparable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }

    public init(secondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = secondsSinceEpoch.saturatingMultiply(1_000_000_000) }

    public static func < (a: Self, b: Self) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }

    public var secondsSinceEpoch: Int64 { nanosecondsSinceEpoch / 1_000_000_000 }

    public static func - (a: Self, b: Self) -> Nanoseconds { .init(a.nanosecondsSinceEpoch.saturatingSubtract(b.nanosecondsSinceEpoch)) }
    public static func + (a: Self, d: Nanoseconds) -> Self { .init(nanosecondsSinceEpoch: a.nanosecondsSinceEpoch.saturatingAdd(d.value)) }

    /// RFC 3339, UTC, microsecond precision.
    public var rfc3339: String {
        var seconds = time_t(nanosecondsSinceEpoch / 1_000_000_000)
        var micros = (nanosecondsSinceEpoch % 1_000_000_000) / 1_000
        if micros < 0 { micros += 1_000_000; seconds -= 1 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // By hand, not String(format:): the console writes thousands at a time.
        var out = ""
        out.reserveCapacity(27)
        func digits(_ v: Int, _ width: Int, _ after: String) {
            let text = String(max(0, v))
            if text.count < width { out += String(repeating: "0", count: width - text.count) }
            out += text
            out += after
        }
        digits(Int(parts.tm_year) + 1900, 4, "-"); digits(Int(parts.tm_mon) + 1, 2, "-"); digits(Int(parts.tm_mday), 2, "T")
        digits(Int(parts.tm_hour), 2, ":"); digits(Int(parts.tm_min), 2, ":"); digits(Int(parts.tm_sec), 2, ".")
        digits(Int(micros), 6, "Z")
        return out
    }

    public var description: String { rfc3339 }

    /// Days in `month` (1–12) of `year`, Gregorian.
    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The years a decoded time may fall in. Outside them a time is refused
    /// where it is read: they fit `Int64` nanoseconds with room to spare, and
    /// no alarm was pressed before 2000 or will be after 2200.
    public static let acceptedYears = 2000...2200

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`; other offsets are refused so
    /// that every stored time is unambiguously UTC. Years outside
    /// `acceptedYears` and days the month does not have are refused.
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        guard b.count >= 20, b.count <= 40, b.last == UInt8(ascii: "Z"),
              b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":")
        else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10),
              let h = num(11..<13), let mi = num(14..<16), let s = num(17..<19),
              Self.acceptedYears.contains(y), (1...12).contains(mo), d >= 1, d <= Self.daysIn(month: mo, year: y),
              h < 24, mi < 60, s < 61
        else { return nil }
        var nanos = 0
        var end = 19
        if b[19] == UInt8(ascii: ".") {
            var digits = 0
            var i = 20
            while i < b.count - 1 {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                if digits < 9 { nanos = nanos * 10 + Int(b[i] - 48); digits += 1 }
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
            end = i
        }
        guard end == b.count - 1 else { return nil }
        // Days from civil (Howard Hinnant's algorithm), no locale, no Foundation.
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let secs = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s)
        self.nanosecondsSinceEpoch = secs * 1_000_000_000 + Int64(nanos)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let t = WallTime(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an RFC 3339 UTC time such as 2026-11-29T09:10:11.123456Z, got \(text)")
        }
        self = t
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rfc3339)
    }
}
