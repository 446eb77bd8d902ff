import PanicCore

/// What one attempt over a channel came to, as the channel classifies it.
/// The channel only performs the attempt; what follows from the result (the
/// queue, the back-off, the trouble) is `DeliveryState`'s decision.
public enum AttemptResult: Sendable, Equatable {
    /// The receiver has it (a 2xx, a DC-09 `ACK`).
    case delivered
    /// The receiver answered but will not take it as sent (a 4xx, `DUH`, a
    /// bare `NAK`). The path is up; the alert is kept and retried slowly.
    case refused(String)
    /// Nothing was sent: this alert cannot be put in the channel's form (an
    /// unreadable body, a zone the format cannot carry). Kept and retried at
    /// the cap like a refusal, but it says nothing about the path.
    case unsendable(String)
    /// The receiver refused the time of the message and said what its own
    /// clock reads (a 401 with `server_time`, a `NAK` with a timestamp): the
    /// offset is corrected and the attempt made again at once, a bounded
    /// number of times; after that it stands as `refused(otherwise)`.
    case clockRefused(receiverTime: WallTime, otherwise: String)
    /// No usable answer (no connection, timeout, 5xx, garbage): the path is
    /// down for now. `cause` is a metrics label (`unreachable`, `timeout`,
    /// `tls`, `server`).
    case failed(String, cause: String)
    /// The receiver asked for a pause of that long (429/503 `Retry-After`).
    case throttled(Nanoseconds, String)
    /// Shutting down interrupted the attempt; that is no outage.
    case cancelled
}

/// What one attempt to deliver several alerts at once came to.
public enum BatchAttemptResult: Sendable, Equatable {
    /// One result per alert for the first `count` alerts of the batch, in
    /// order (a channel may carry fewer than it was given, never none).
    case each([AttemptResult])
    /// The request as a whole came to this (no answer, a pause asked for,
    /// the signature's time refused): taken as the first alert's result.
    case whole(AttemptResult)
    /// The channel does not take these as a batch: send the first one alone.
    case unsupported
}

/// How one destination retries, fails over and keeps in touch.
public struct DeliveryPolicy: Sendable, Equatable {
    public var backoff: Backoff
    public var hasBackup: Bool
    /// Failures in a row on the primary before the backup takes over.
    public var failoverAfter: Int
    /// A heartbeat this often whatever the queue holds (HTTPS); nil for none.
    public var heartbeatInterval: Nanoseconds?
    /// A supervision message after this long without any exchange, when
    /// there is nothing to deliver (DC-09); nil for none.
    public var supervisionInterval: Nanoseconds?
    /// A receiver time within this of ours (as corrected) is not a clock problem.
    public var clockTolerance: Nanoseconds
    /// Corrections of the clock offset in one attempt before a refusal stands.
    public var maxClockCorrections: Int
    /// An idle destination looks at its queue at least this often.
    public var idleRecheck: Nanoseconds

    public init(backoff: Backoff, hasBackup: Bool = false, failoverAfter: Int = 3, heartbeatInterval: Nanoseconds? = nil,
                supervisionInterval: Nanoseconds? = nil, clockTolerance: Nanoseconds = .init(0), maxClockCorrections: Int = 1,
                idleRecheck: Nanoseconds = .seconds(60)) {
        self.backoff = backoff
        self.hasBackup = hasBackup
        self.failoverAfter = failoverAfter
        self.heartbeatInterval = heartbeatInterval
        self.supervisionInterval = supervisionInterval
        self.clockTolerance = clockTolerance
        self.maxClockCorrections = maxClockCorrections
        self.idleRecheck = idleRecheck
    }
}

/// A destination's trouble, raised once and cleared once.
public enum DestinationTrouble: Sendable, Equatable {
    /// The receiver refuses an alert (kept, retried at the capped interval).
    case refusing(String)
    /// The primary failed and the backup took over.
    case primaryUnreachable
}
