import PanicConfig
import PanicCore

/// Maps alerts to DC-09 events: defaults per alert kind, overridden per
/// input by the destination's `codes`. Zone and area come from the alert
/// (that is, from its input's configuration).
///
/// | kind | SIA new / restore | Contact ID |
/// |---|---|---|
/// | panic | PA / PH | 1120 / 3120 |
/// | duress | HA / HH | 1121 / 3121 |
/// | tamper | TA / TR | 1137 / 3137 |
/// | trouble | YX / YZ | 1300 / 3300 |
/// | sensor (untyped zone) | UA / UR | 1140 / 3140 |
/// | test (a technician's) | RX | 1601 (3601 for its release) |
/// | heartbeat (periodic test) | RP | 1602 |
///
/// Contact ID 1123 (audible panic) is never produced: common receivers
/// (pysiaalarm) have no mapping for it.
public struct DC09CodeTable: Sendable, Equatable {
    /// One kind's codes.
    public struct Codes: Sendable, Equatable {
        public var sia: String
        public var siaRestore: String
        public var cid: Int
    }

    public static let defaults: [AlertKind: Codes] = [
        .panic: Codes(sia: "PA", siaRestore: "PH", cid: 120),
        .duress: Codes(sia: "HA", siaRestore: "HH", cid: 121),
        .tamper: Codes(sia: "TA", siaRestore: "TR", cid: 137),
        .trouble: Codes(sia: "YX", siaRestore: "YZ", cid: 300),
        .test: Codes(sia: "RX", siaRestore: "RX", cid: 601),
        .sensor: Codes(sia: "UA", siaRestore: "UR", cid: 140),
        .heartbeat: Codes(sia: "RP", siaRestore: "RP", cid: 602),
    ]

    public var overrides: [String: DC09Config.CodeOverride]

    public init(overrides: [String: DC09Config.CodeOverride] = [:]) {
        self.overrides = overrides
    }

    /// The event `alert` reports.
    public func event(for alert: Alert) -> DC09Event {
        let restoring: Bool
        let kind: AlertKind
        if alert.test || alert.kind == .test {
            kind = .test
            restoring = alert.restores != nil
        } else if alert.kind == .restore {
            let r = alert.restores ?? .trouble
            kind = (r == .restore) ? .trouble : r
            restoring = true
        } else {
            kind = alert.kind
            restoring = false
        }
        var codes = Self.defaults[kind] ?? Self.defaults[.trouble]!
        if kind != .test, kind != .heartbeat, let input = alert.input, let o = overrides[input] {
            if o.alarm.count == 3, let n = Int(o.alarm) {
                codes.cid = n
            } else {
                codes.sia = o.alarm
                // "HA" alone restores as HH: the restore of whichever kind uses that code.
                codes.siaRestore = o.restore ?? Self.defaults.values.first { $0.sia == o.alarm }?.siaRestore ?? codes.siaRestore
            }
        }
        return DC09Event(
            sia: restoring ? codes.siaRestore : codes.sia, cidQualifier: restoring ? 3 : 1, cidEvent: codes.cid,
            area: alert.area ?? 0, zone: alert.zone ?? 0)
    }
}
