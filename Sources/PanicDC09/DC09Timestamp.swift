import PanicCore

/// The DC-09 time form `HH:MM:SS,MM-DD-YYYY`, in UTC: the frame's timestamp
/// (after `_`) and the time of occurrence in `[H…]`. Whole seconds.
public enum DC09Timestamp {
    /// `time` as `HH:MM:SS,MM-DD-YYYY` (fraction of a second dropped).
    public static func format(_ time: WallTime) -> String {
        var secs = time.nanosecondsSinceEpoch / 1_000_000_000
        if time.nanosecondsSinceEpoch < 0, time.nanosecondsSinceEpoch % 1_000_000_000 != 0 { secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = civil(fromDays: days)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let year = String(y)
        let paddedYear = String(repeating: "0", count: max(0, 4 - year.count)) + year
        return "\(two(rem / 3600)):\(two(rem / 60 % 60)):\(two(rem % 60)),\(two(m))-\(two(d))-\(paddedYear)"
    }

    /// Parses `HH:MM:SS,MM-DD-YYYY` (UTC); nil if it is not exactly that.
    public static func parse(_ text: Substring) -> WallTime? {
        let b = Array(text.utf8)
        guard b.count == 19, b[2] == UInt8(ascii: ":"), b[5] == UInt8(ascii: ":"), b[8] == UInt8(ascii: ","),
              b[11] == UInt8(ascii: "-"), b[14] == UInt8(ascii: "-") else { return nil }
        func num(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard let h = num(0..<2), let mi = num(3..<5), let s = num(6..<8),
              let mo = num(9..<11), let d = num(12..<14), let y = num(15..<19),
              h < 24, mi < 60, s < 61, (1...12).contains(mo), d >= 1, d <= Int64(WallTime.daysIn(month: Int(mo), year: Int(y))) else { return nil }
        let days = daysFromCivil(y, mo, d)
        return WallTime(secondsSinceEpoch: days * 86_400 + h * 3600 + mi * 60 + s)
    }

    public static func parse(_ text: String) -> WallTime? { parse(text[...]) }

    // Howard Hinnant's algorithms; no locale, no Foundation.
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
