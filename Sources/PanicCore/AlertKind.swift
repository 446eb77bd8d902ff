/// What an alert reports.
public enum AlertKind: String, Codable, Sendable, CaseIterable {
    case panic, duress, tamper, trouble, restore, test, heartbeat
    /// A sensor input changed (a door contact, a motion detector): telemetry.
    case sensor

    /// Panic, duress and tamper: sent before anything else, never evicted.
    public var isAlarm: Bool { self == .panic || self == .duress || self == .tamper }
}

/// Delivery class of an alert in the outbox.
public enum AlertPriority: Int, Sendable, Comparable, Codable {
    /// Alarms and their restores: first in line, never evicted.
    case alarm = 0
    /// Everything else: bounded, oldest evicted first (counted).
    case telemetry = 1

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// What kind of thing an input is wired to; decides the alert a press raises.
public enum InputKind: String, Sendable, CaseIterable, Codable {
    case panic, duress, tamper
    /// Not an alarm: reported as telemetry (kind `sensor`, its restore on release).
    case sensor

    /// The alert a press on this input raises.
    public var alertKind: AlertKind {
        switch self {
        case .panic: .panic
        case .duress: .duress
        case .tamper: .tamper
        case .sensor: .sensor
        }
    }
}

/// Which electrical state means "pressed".
public enum ContactType: String, Sendable, CaseIterable, Codable {
    /// Pressing closes the circuit: asserted line means pressed.
    case normallyOpen = "normally-open"
    /// Pressing (or a cut wire) opens the circuit: de-asserted means pressed.
    case normallyClosed = "normally-closed"

    /// Maps the line's asserted state (after active-low) to pressed.
    public func pressed(lineAsserted: Bool) -> Bool {
        self == .normallyOpen ? lineAsserted : !lineAsserted
    }
}
