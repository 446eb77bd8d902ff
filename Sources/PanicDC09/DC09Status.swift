import PanicCore

/// One DC-09 destination's health, for status output, heartbeats and logs.
public struct DC09Status: Sendable, Equatable {
    public var name: String
    /// The receiver frames go to now.
    public var activeReceiver: DC09PathState.Path
    public var lastSuccess: WallTime?
    public var lastError: String?
    public var lastErrorAt: WallTime?
    /// Failures in a row on the active receiver (no reply, refused, garbage).
    public var consecutiveFailures: Int
    /// Not tried again before this, unless alarms arrive.
    public var backoffUntil: WallTime?
    /// Set while the receiver will not process an alert (DUH, a bare NAK, an
    /// alert that does not fit the format): trouble until it acknowledges one.
    public var refusal: String?
    /// The primary failed and the centre has not yet been told it is back.
    public var communicationsTrouble: Bool
    /// Receiver clock minus ours, learnt from NAKs; added to every timestamp.
    public var primaryClockOffset: Nanoseconds
    public var backupClockOffset: Nanoseconds
    public var lastSupervisionAcknowledged: WallTime?
    /// Alerts acknowledged since start.
    public var delivered: Int
    /// The last DC-09 sequence number used.
    public var lastSequenceNumber: Int

    /// Anything a technician should look at.
    public var inTrouble: Bool { refusal != nil || consecutiveFailures > 0 || communicationsTrouble }
}

/// A frame the receiver acknowledged, for observers (tests, tools, the CLI).
public struct DC09Acknowledgement: Sendable, Equatable {
    public enum What: Sendable, Equatable {
        /// An outbox alert, by its outbox sequence number.
        case alert(sequence: Int64, id: String)
        /// A supervision message (`NULL` or periodic test), or a probe of the primary.
        case supervision
        /// The service's own communications trouble (YS) or restore (YK) event.
        case communicationsTrouble(restored: Bool)
    }

    public var what: What
    /// The DC-09 sequence number the frame carried.
    public var number: Int
    public var receiver: DC09PathState.Path
    public var at: WallTime
}
