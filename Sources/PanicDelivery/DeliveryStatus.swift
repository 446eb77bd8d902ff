import PanicCore

/// One destination's health, whatever its kind: for `panicctl status`,
/// metrics, heartbeats and logs.
public struct DeliveryStatus: Sendable, Equatable {
    public var name: String
    /// `https`, `dc09`, …
    public var kind: String
    /// Where it delivers (a URL; DC-09: the primary and backup receivers).
    public var target: String
    /// The receiver frames or requests go to now.
    public var activePath: DeliveryPath
    public var lastSuccess: WallTime?
    public var lastError: String?
    public var lastErrorAt: WallTime?
    /// Failures in a row on the active path (no answer, timeouts, 5xx, garbage).
    public var consecutiveFailures: Int
    /// Not tried again before this, unless alarms arrive.
    public var backoffUntil: WallTime?
    /// Set while the receiver refuses an alert: trouble until it accepts one.
    public var refusal: String?
    /// The primary failed and the receiver has not yet been told it is back.
    public var communicationsTrouble: Bool
    /// Receiver clock minus ours, per path, learnt from its refusals.
    public var clockOffsets: [DeliveryPath: Nanoseconds]
    /// The last heartbeat (HTTPS) or supervision message (DC-09) acknowledged.
    public var lastHeartbeatAcknowledged: WallTime?
    /// Alerts delivered since start.
    public var delivered: Int
    /// The last protocol sequence number used (DC-09), if the kind has one.
    public var lastFrameNumber: Int?
    /// Requests since start that carried several alerts at once (a backlog draining).
    public var batches: Int = 0

    /// The clock offset in force for `path`.
    public func clockOffset(_ path: DeliveryPath) -> Nanoseconds { clockOffsets[path] ?? .init(0) }

    /// Anything a technician should look at.
    public var inTrouble: Bool { refusal != nil || consecutiveFailures > 0 || communicationsTrouble }
}
