import PanicCore

/// An alert waiting for one destination.
public struct PendingAlert: Sendable, Equatable {
    public var sequence: Int64
    public var id: String
    public var kind: AlertKind
    public var priority: AlertPriority
    /// The stored wire bytes: exactly what gets signed and sent.
    public var body: [UInt8]
    public var acceptedAt: WallTime
    public var attempts: Int
    public var nextAttemptAt: WallTime
    public var lastError: String?
    /// False while the alert is held in memory only: accepted when the disk
    /// would not take it, and lost if the gateway stops before it is written.
    public var durable = true
}

/// One destination's queue at a glance.
public struct QueueSummary: Sendable, Equatable {
    public var destination: String
    public var pending: Int
    public var pendingAlarms: Int
    public var oldestPendingAcceptedAt: WallTime?
    public var delivered: Int
    /// Of `pending`, alerts held in memory because the disk would not take them.
    public var unwritten = 0
}

/// What opening the outbox found.
public struct OutboxOpenReport: Sendable, Equatable {
    /// Set when the database was corrupt: where it was moved.
    public var corruptFileMovedTo: String?
    /// Alerts carried over from the corrupt file.
    public var salvagedAlerts: Int
    /// Why the file was judged corrupt.
    public var corruption: String?
    /// Undelivered alerts found at start, all destinations together.
    public var pendingAtStart: Int
}

/// What `Outbox.acceptOrHold` did with a batch of drafts.
public struct Acceptance: Sendable {
    /// The alerts, with their ids and sequence numbers; delivered either way.
    public var alerts: [Alert]
    /// Nil when they are on disk. Otherwise why the disk did not take them:
    /// they are held in memory, delivered from there, and written (with the
    /// same ids and sequence numbers) once `writeUnwritten` succeeds.
    public var unwritten: OutboxError?
    /// The disk was full and the reserve file was given up to make room.
    public var releasedReserve: Bool
}
