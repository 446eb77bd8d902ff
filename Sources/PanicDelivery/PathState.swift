import PanicCore

/// The path a frame or request goes over: a destination's primary receiver,
/// or its backup when one is configured and the primary has failed.
public enum DeliveryPath: String, Sendable, Equatable, Hashable, CaseIterable {
    case primary, backup
}

/// Which receiver to use, when to try again, and what the receiver must be
/// told about the primary path. Pure: the delivery service feeds it outcomes
/// and times, tests drive it with explicit ones.
///
/// - Failures on the primary back off exponentially with jitter; after
///   `failoverAfter` in a row (with a backup configured) the backup takes
///   over at once, and a communications-trouble notice is owed to the backup.
/// - While on the backup the primary is probed on the back-off schedule;
///   when it answers it is used again and, if the trouble was reported, its
///   restore is owed to the primary.
/// - Any answer (accepted or refused) means the path is up; only silence,
///   refused connections and unusable replies count as failures.
public struct PathState: Sendable, Equatable {
    /// Where the communications-trouble report stands.
    public enum CommunicationsTrouble: Sendable, Equatable {
        case none
        /// The primary failed at `since`; the notice is not yet acknowledged by the backup.
        case toReport(since: WallTime)
        /// The backup acknowledged the notice; its restore is owed once the primary answers.
        case reported(since: WallTime)
        /// The primary answers again; the restore is not yet acknowledged by it.
        case restoreToReport(since: WallTime)
    }

    public let hasBackup: Bool
    public let failoverAfter: Int
    public let backoff: Backoff
    public private(set) var active: DeliveryPath = .primary
    /// Failures in a row on the active path.
    public private(set) var failures = 0
    /// Failures in a row on the primary, probes included.
    public private(set) var primaryFailures = 0
    /// The active path is not tried before this (unless alarms arrive).
    public private(set) var retryAt: WallTime?
    /// While on the backup: when to probe the primary next.
    public private(set) var probePrimaryAt: WallTime?
    public private(set) var communicationsTrouble: CommunicationsTrouble = .none
    private var restoredAt: WallTime?

    public init(hasBackup: Bool, failoverAfter: Int, backoff: Backoff) {
        self.hasBackup = hasBackup
        self.failoverAfter = max(1, failoverAfter)
        self.backoff = backoff
    }

    /// The receiver answered (anything): the path is up.
    public mutating func answered(on path: DeliveryPath, now: WallTime) {
        switch path {
        case .primary:
            primaryFailures = 0
            if active == .backup {
                active = .primary
                probePrimaryAt = nil
            }
            failures = 0
            retryAt = nil
            switch communicationsTrouble {
            case .toReport: communicationsTrouble = .none
            case .reported(let since):
                communicationsTrouble = .restoreToReport(since: since)
                restoredAt = now
            default: break
            }
        case .backup:
            guard active == .backup else { return }
            failures = 0
            retryAt = nil
        }
    }

    /// An attempt got no usable answer on `path`. Returns true when this made
    /// the backup take over.
    @discardableResult
    public mutating func failed(on path: DeliveryPath, now: WallTime, random: Double) -> Bool {
        switch path {
        case .primary:
            primaryFailures = primaryFailures.saturatingAdd(1)
            if active == .backup {
                let n = max(1, primaryFailures - failoverAfter + 1)
                probePrimaryAt = now + backoff.delay(attempt: n, random: random)
                return false
            }
            failures = primaryFailures
            if hasBackup, primaryFailures >= failoverAfter {
                active = .backup
                failures = 0
                retryAt = nil
                probePrimaryAt = now + backoff.delay(attempt: 1, random: random)
                switch communicationsTrouble {
                case .none, .toReport: communicationsTrouble = .toReport(since: now)
                case .reported(let s), .restoreToReport(let s): communicationsTrouble = .reported(since: s)
                }
                return true
            }
            retryAt = now + backoff.delay(attempt: primaryFailures, random: random)
            return false
        case .backup:
            guard active == .backup else { return false }
            failures = failures.saturatingAdd(1)
            retryAt = now + backoff.delay(attempt: failures, random: random)
            return false
        }
    }

    /// Alarms arrived: stop waiting out the back-off and try at once.
    public mutating func alarmsArrived() {
        retryAt = nil
    }

    /// The primary should be probed now (the active path is the backup).
    public func probeDue(_ now: WallTime) -> Bool {
        guard active == .backup, let at = probePrimaryAt else { return false }
        return at <= now
    }

    /// The notice owed now, if any, and the path it goes over.
    public var owed: PathNotice? {
        switch (communicationsTrouble, active) {
        case (.toReport(let since), .backup): PathNotice(restored: false, path: .backup, occurredAt: since)
        case (.restoreToReport(let since), .primary): PathNotice(restored: true, path: .primary, occurredAt: restoredAt ?? since)
        default: nil
        }
    }

    /// The receiver acknowledged (or could not process, and will not) the
    /// notice: it is no longer owed.
    public mutating func noticeSettled(restored: Bool) {
        switch (communicationsTrouble, restored) {
        case (.toReport(let since), false): communicationsTrouble = .reported(since: since)
        case (.restoreToReport, true): communicationsTrouble = .none; restoredAt = nil
        default: break
        }
    }

    /// The primary failed and the receiver has not yet been told it is back.
    public var inCommunicationsTrouble: Bool { communicationsTrouble != .none }
}

/// A message the destination owes its receivers about the primary path:
/// that it failed (sent over the backup) or that it is back (over the primary).
public struct PathNotice: Sendable, Equatable {
    public var restored: Bool
    public var path: DeliveryPath
    /// When the primary failed or came back: the event's time of occurrence.
    public var occurredAt: WallTime

    public init(restored: Bool, path: DeliveryPath, occurredAt: WallTime) {
        self.restored = restored
        self.path = path
        self.occurredAt = occurredAt
    }
}
