import PanicCore

/// Every delivery decision for one destination, as a pure function of
/// outcomes and times: the service asks it what to do next, performs that
/// over its channel, and feeds the result back; tests do the same with
/// explicit times and results.
///
/// The rules:
/// - The queue is delivered in order, alarms first; an alarm goes before a
///   heartbeat, a notice or supervision.
/// - No usable answer backs the destination off exponentially with jitter,
///   up to the cap; alarms arriving cut the wait short. With a backup, after
///   `failoverAfter` failures the backup takes over (see `PathState`).
/// - A refusal keeps the alert, postpones it by the back-off cap (retried
///   there for ever, never dropped) and puts the destination in trouble until
///   the receiver accepts one again. Other alerts are not held up behind it.
/// - A refusal of the message's time that names the receiver's clock
///   corrects this path's offset and is tried again at once, up to
///   `maxClockCorrections` times; then it stands as a refusal that says so.
/// - A requested pause (`Retry-After`) is honoured up to the back-off cap;
///   not even an alarm cuts it short (it would only be refused again).
/// - Heartbeats go at their interval whatever the queue; supervision goes
///   when nothing was exchanged for its interval and there is nothing to send.
public struct DeliveryState: Sendable, Equatable {
    /// The head of the destination's queue, as much as decisions need.
    public struct Head: Sendable, Equatable {
        public var sequence: Int64
        public var isAlarm: Bool
        public init(sequence: Int64, isAlarm: Bool) {
            self.sequence = sequence
            self.isAlarm = isAlarm
        }
    }

    /// What wakes a wait before its deadline.
    public enum WakeOn: Sendable, Equatable {
        /// Any new alert (the destination is idle).
        case anyAlert
        /// Only alarms (the destination is backing off).
        case alarms
        /// Nothing but the deadline (the receiver asked for a pause).
        case nothing
    }

    /// The next thing to do.
    public enum Step: Sendable, Equatable {
        /// Deliver the head of the queue over the active path.
        case deliver(sequence: Int64, on: DeliveryPath)
        case heartbeat(on: DeliveryPath)
        case supervise(on: DeliveryPath)
        /// While on the backup: see whether the primary answers again.
        case probePrimary
        case sendNotice(PathNotice)
        case wait(until: WallTime, wakeOn: WakeOn)
    }

    /// What follows from a result, for the service to carry out and log.
    public enum Effect: Sendable, Equatable {
        case markDelivered(sequence: Int64)
        case postpone(sequence: Int64, until: WallTime, reason: String)
        case troubleRaised(DestinationTrouble)
        case troubleCleared(DestinationTrouble)
        case reachableAgain(path: DeliveryPath, failuresBefore: Int)
        /// Logged on the first failure and every tenth.
        case unreachable(path: DeliveryPath, failures: Int, retryAt: WallTime?, reason: String)
        case throttled(until: WallTime, reason: String)
        case clockCorrected(path: DeliveryPath, offset: Nanoseconds)
        /// The receiver answered a heartbeat, supervision or notice but did not take it.
        case answeredWithoutTaking(String)
    }

    public let policy: DeliveryPolicy
    public private(set) var paths: PathState
    public private(set) var refusal: String?
    public private(set) var throttledUntil: WallTime?
    /// Receiver clock minus ours, per path: added to every time sent.
    public private(set) var clockOffsets: [DeliveryPath: Nanoseconds] = [:]
    public private(set) var nextHeartbeatAt: WallTime?
    /// The last exchange on the active path (supervision counts from it).
    public private(set) var lastExchange: WallTime
    public private(set) var lastSuccess: WallTime?
    public private(set) var lastError: String?
    public private(set) var lastErrorAt: WallTime?
    public private(set) var lastHeartbeatAcknowledged: WallTime?
    public private(set) var delivered = 0

    /// - Parameter now: the start; the first heartbeat is due at once.
    public init(policy: DeliveryPolicy, now: WallTime) {
        self.policy = policy
        self.paths = PathState(hasBackup: policy.hasBackup, failoverAfter: policy.failoverAfter, backoff: policy.backoff)
        self.lastExchange = now
        self.nextHeartbeatAt = policy.heartbeatInterval == nil ? nil : now
    }

    // MARK: What next

    /// The step to take at `now` with `head` at the front of the queue
    /// (nil: nothing deliverable) and `nextDue` the time the next postponed
    /// alert becomes deliverable.
    ///
    /// Every time kept is a wall-clock time; one further ahead than its
    /// interval allows (the clock was stepped back) counts as due at that
    /// interval from now, so no wait outlasts its own length.
    public func next(now: WallTime, head: Head?, nextDue: WallTime?) -> Step {
        let cap = policy.backoff.maximum
        let retryAt = paths.retryAt.map { min($0, now + cap) }
        let throttleEnd = throttledUntil.map { min($0, now + cap) }
        let probeAt = paths.probePrimaryAt.map { min($0, now + cap) }
        let heartbeatAt = nextHeartbeatAt.map { at in policy.heartbeatInterval.map { min(at, now + $0) } ?? at }
        let supervisionAt = supervisionDue.map { due in policy.supervisionInterval.map { min(due, now + $0) } ?? due }

        if paths.active == .backup, let p = probeAt, p <= now { return .probePrimary }
        let throttled = throttleEnd.map { $0 > now } ?? false
        let backingOff = throttled || (retryAt.map { $0 > now } ?? false)
        if let head, head.isAlarm, !backingOff { return .deliver(sequence: head.sequence, on: paths.active) }
        if let at = heartbeatAt, at <= now { return .heartbeat(on: paths.active) }
        if backingOff {
            var until = throttled ? throttleEnd! : retryAt!
            if throttled, let r = retryAt, r > until { until = r }
            if let p = probeAt { until = min(until, p) }
            if let h = heartbeatAt { until = min(until, h) }
            return .wait(until: until, wakeOn: throttled ? .nothing : .alarms)
        }
        if let owed = paths.owed { return .sendNotice(owed) }
        if let head { return .deliver(sequence: head.sequence, on: paths.active) }
        if let due = supervisionAt, due <= now { return .supervise(on: paths.active) }
        var until = now + policy.idleRecheck
        if let nextDue { until = min(until, nextDue) }
        if let due = supervisionAt { until = min(until, due) }
        if let p = probeAt { until = min(until, p) }
        if let h = heartbeatAt { until = min(until, h) }
        return .wait(until: max(until, now + .milliseconds(1)), wakeOn: .anyAlert)
    }

    var supervisionDue: WallTime? { policy.supervisionInterval.map { lastExchange + $0 } }

    /// Not tried again before this, unless alarms arrive (for status). A
    /// back-off an alarm cut short stays shown until the receiver answers:
    /// the destination is still down while that retry is out.
    public var backoffUntil: WallTime? {
        switch (paths.retryAt, throttledUntil) {
        case (let r?, let t?): max(r, t)
        case (let r?, nil): r
        case (nil, let t?): t
        case (nil, nil): lastBackoffUntil
        }
    }

    /// The last back-off deadline set by a failure, until an answer.
    public private(set) var lastBackoffUntil: WallTime?

    /// The clock offset for `path`.
    public func clockOffset(_ path: DeliveryPath) -> Nanoseconds { clockOffsets[path] ?? .init(0) }

    // MARK: Results

    /// Alarms arrived while backing off: try at once (not through a requested pause).
    public mutating func alarmsArrived() {
        paths.alarmsArrived()
    }

    /// The receiver refused the time of a message on `path` and said its
    /// clock reads `receiverTime`, after `corrections` corrections in this
    /// attempt. Returns whether to correct and try again at once.
    public mutating func clockRefused(on path: DeliveryPath, receiverTime: WallTime, now: WallTime, corrections: Int) -> (retry: Bool, effects: [Effect]) {
        guard corrections < policy.maxClockCorrections else { return (false, []) }
        let offset = receiverTime - now
        let change = offset.value.saturatingSubtract(clockOffset(path).value).magnitude
        guard change > UInt64(max(0, policy.clockTolerance.value)) || policy.clockTolerance.value == 0 else {
            return (false, [])
        }
        clockOffsets[path] = offset
        return (true, [.clockCorrected(path: path, offset: offset)])
    }

    /// The result of delivering alert `sequence` over `path`.
    public mutating func delivery(_ result: AttemptResult, sequence: Int64, on path: DeliveryPath, now: WallTime, random: Double) -> [Effect] {
        switch result {
        case .delivered:
            var effects = answered(on: path, now: now)
            effects.insert(.markDelivered(sequence: sequence), at: 0)
            lastSuccess = now
            delivered = delivered.saturatingAdd(1)
            if let r = refusal {
                refusal = nil
                effects.append(.troubleCleared(.refusing(r)))
            }
            return effects
        case .refused(let reason), .clockRefused(_, let reason):
            var effects = answered(on: path, now: now)
            effects.append(.postpone(sequence: sequence, until: now + policy.backoff.maximum, reason: reason))
            if refusal == nil { effects.append(.troubleRaised(.refusing(reason))) }
            refusal = reason
            noteError(reason, now: now)
            return effects
        case .unsendable(let reason):
            // Nothing went on the wire: the path state and supervision stay as they are.
            var effects: [Effect] = [.postpone(sequence: sequence, until: now + policy.backoff.maximum, reason: reason)]
            if refusal == nil { effects.append(.troubleRaised(.refusing(reason))) }
            refusal = reason
            noteError(reason, now: now)
            return effects
        case .failed(let reason, _):
            return failed(on: path, reason, now: now, random: random)
        case .throttled(let pause, let reason):
            // Never less than the first back-off step: a `Retry-After: 0`
            // answered again and again must not become a hot loop.
            let until = now + min(max(pause, policy.backoff.initial), policy.backoff.maximum)
            throttledUntil = until
            noteError(reason, now: now)
            return [.throttled(until: until, reason: reason)]
        case .cancelled:
            return []
        }
    }

    /// The result of a heartbeat: it counts for the status, not the queue.
    /// A heartbeat went out at `now` (it runs beside the deliveries, never
    /// in their way): the next is due an interval later, whatever its answer.
    public mutating func heartbeatStarted(now: WallTime) {
        if let i = policy.heartbeatInterval { nextHeartbeatAt = now + i }
    }

    /// A heartbeat's answer came back at `now`.
    public mutating func heartbeat(_ result: AttemptResult, now: WallTime) -> [Effect] {
        if case .delivered = result { lastHeartbeatAcknowledged = now }
        return []
    }

    /// The result of a supervision message on `path`.
    public mutating func supervision(_ result: AttemptResult, on path: DeliveryPath, now: WallTime, random: Double) -> [Effect] {
        switch result {
        case .delivered:
            lastHeartbeatAcknowledged = now
            return answered(on: path, now: now)
        case .refused(let reason), .clockRefused(_, let reason), .throttled(_, let reason):
            return answered(on: path, now: now) + [.answeredWithoutTaking(reason)]
        case .unsendable(let reason):
            return [.answeredWithoutTaking(reason)]
        case .failed(let reason, _):
            return failed(on: path, reason, now: now, random: random)
        case .cancelled:
            return []
        }
    }

    /// The result of probing the primary while on the backup.
    public mutating func probe(_ result: AttemptResult, now: WallTime, random: Double) -> [Effect] {
        switch result {
        case .delivered, .refused, .clockRefused, .throttled:
            return answered(on: .primary, now: now) + [.troubleCleared(.primaryUnreachable)]
        case .failed(let reason, _), .unsendable(let reason):
            return failed(on: .primary, reason, now: now, random: random)
        case .cancelled:
            return []
        }
    }

    /// The result of sending `notice`. A refused one is not sent again.
    public mutating func notice(_ result: AttemptResult, _ notice: PathNotice, now: WallTime, random: Double) -> [Effect] {
        switch result {
        case .delivered:
            paths.noticeSettled(restored: notice.restored)
            return answered(on: notice.path, now: now)
        case .refused(let reason), .clockRefused(_, let reason), .throttled(_, let reason):
            paths.noticeSettled(restored: notice.restored)
            return answered(on: notice.path, now: now) + [.answeredWithoutTaking(reason)]
        case .unsendable(let reason):
            paths.noticeSettled(restored: notice.restored)
            return [.answeredWithoutTaking(reason)]
        case .failed(let reason, _):
            return failed(on: notice.path, reason, now: now, random: random)
        case .cancelled:
            return []
        }
    }

    // MARK: Path bookkeeping

    private mutating func answered(on path: DeliveryPath, now: WallTime) -> [Effect] {
        let before = paths.failures
        paths.answered(on: path, now: now)
        lastBackoffUntil = nil
        if path == paths.active { lastExchange = now }
        if let t = throttledUntil, t <= now { throttledUntil = nil }
        return before > 0 ? [.reachableAgain(path: path, failuresBefore: before)] : []
    }

    private mutating func failed(on path: DeliveryPath, _ reason: String, now: WallTime, random: Double) -> [Effect] {
        let switched = paths.failed(on: path, now: now, random: random)
        if let r = paths.retryAt { lastBackoffUntil = r }
        noteError(policy.hasBackup ? "\(path.rawValue) receiver: \(reason)" : reason, now: now)
        if switched { return [.troubleRaised(.primaryUnreachable)] }
        let failures = path == .primary ? paths.primaryFailures : paths.failures
        guard failures == 1 || failures % 10 == 0 else { return [] }
        return [.unreachable(path: path, failures: failures, retryAt: paths.active == path ? paths.retryAt : paths.probePrimaryAt, reason: reason)]
    }

    private mutating func noteError(_ reason: String, now: WallTime) {
        lastError = reason
        lastErrorAt = now
    }
}
