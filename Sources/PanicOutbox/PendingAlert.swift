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
}

/// One destination's queue at a glance.
public struct QueueSummary: Sendable, Equatable {
    public var destination: String
    public var pending: Int
    public var pendingAlarms: Int
    public var oldestPendingAcceptedAt: WallTime?
    public var delivered: Int
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
