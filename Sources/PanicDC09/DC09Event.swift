import PanicConfig
import PanicCore

/// One event as an alarm receiving centre reads it, in both code systems.
public struct DC09Event: Sendable, Equatable {
    /// SIA DC-03 two-letter code: `PA`, `PH`, …
    public var sia: String
    /// Contact ID qualifier: 1 new event, 3 restore.
    public var cidQualifier: Int
    /// Contact ID event code, three digits: 120, 121, …
    public var cidEvent: Int
    /// Area (SIA `ri`, Contact ID group/partition).
    public var area: Int
    /// Zone or user number.
    public var zone: Int

    public init(sia: String, cidQualifier: Int, cidEvent: Int, area: Int, zone: Int) {
        self.sia = sia
        self.cidQualifier = cidQualifier
        self.cidEvent = cidEvent
        self.area = area
        self.zone = zone
    }

    /// The frame's message id for `format`.
    public static func messageID(_ format: DC09Config.Format) -> String {
        switch format {
        case .siaDCS: "SIA-DCS"
        case .admCID: "ADM-CID"
        }
    }

    /// The data part for `format`: `#acct|Nri<area>/<code><zone>` or
    /// `#acct|<q><eee> <gg> <zzz>`.
    /// - Throws: `.doesNotFit` when area or zone exceed what the format can carry.
    public func data(format: DC09Config.Format, account: String) throws(DC09EventError) -> String {
        switch format {
        case .siaDCS:
            guard (0...999).contains(area) else { throw .doesNotFit(field: "area", value: area, format: format, maximum: 999) }
            guard (0...9999).contains(zone) else { throw .doesNotFit(field: "zone", value: zone, format: format, maximum: 9999) }
            return "#\(account)|Nri\(area)/\(sia)\(zone)"
        case .admCID:
            guard (0...99).contains(area) else { throw .doesNotFit(field: "area", value: area, format: format, maximum: 99) }
            guard (0...999).contains(zone) else { throw .doesNotFit(field: "zone", value: zone, format: format, maximum: 999) }
            return "#\(account)|\(cidQualifier)\(pad(cidEvent, 3)) \(pad(area, 2)) \(pad(zone, 3))"
        }
    }

    private func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Communications trouble on the primary path (YS / 1350), or its restore
    /// (YK / 3350); zone 1 names the primary receiver.
    public static func communicationsTrouble(restored: Bool, area: Int = 0) -> DC09Event {
        restored
            ? DC09Event(sia: "YK", cidQualifier: 3, cidEvent: 350, area: area, zone: 1)
            : DC09Event(sia: "YS", cidQualifier: 1, cidEvent: 350, area: area, zone: 1)
    }

    /// A periodic test (RP / 1602), the supervision message when configured so.
    public static func periodicTest(area: Int = 0) -> DC09Event {
        DC09Event(sia: "RP", cidQualifier: 1, cidEvent: 602, area: area, zone: 0)
    }
}

/// Why an alert cannot be put in a DC-09 frame.
public enum DC09EventError: Error, Equatable, Sendable, CustomStringConvertible {
    case doesNotFit(field: String, value: Int, format: DC09Config.Format, maximum: Int)
    /// The alert's stored body could not be read.
    case unreadable(String)

    public var description: String {
        switch self {
        case .doesNotFit(let f, let v, let format, let max):
            "\(f) \(v) does not fit \(format.rawValue) (at most \(max)); give the input a smaller \(f) or use the other format"
        case .unreadable(let why):
            "the stored alert cannot be read: \(why)"
        }
    }
}
