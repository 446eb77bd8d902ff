import Logging
import Metrics
import PanicCore
import PanicOutbox
import ServiceLifecycle

/// Delivers one destination's outbox queue over its channel: in order
/// (alarms first), marking delivered, postponing refusals, backing off,
/// failing over, raising and clearing trouble — every decision taken by its
/// `DeliveryState`, every attempt made by its `DeliveryChannel`. One per
/// destination, whatever its kind; a swift-service-lifecycle `Service` that
/// stops at graceful shutdown (an attempt in flight is interrupted; the alert
/// stays queued).
public final class DeliveryService: Service, Sendable {
    public let channel: any DeliveryChannel
    /// The outbox destination name.
    public var name: String { channel.destination }
    private let outbox: Outbox
    private let clock: any GatewayClock
    private let sleeper: any DeliverySleeper
    private let random: @Sendable () -> Double
    private let logger: Logger
    private let wakeup = Wakeup()
    private let state: Locked<DeliveryState>
    private let heartbeatOut = Locked(false)
    /// Exchanges that carried several alerts (for the status).
    private let batches = Locked(0)
    private let onDelivered: @Sendable (PendingAlert, WallTime) -> Void
    private let onTrouble: @Sendable (_ cause: String, _ cleared: Bool) -> Void

    /// - Parameters:
    ///   - sleeper: `RealSleeper()` in the daemon; a `ManualSleeper` in tests.
    ///   - random: draws from 0..<1 for the back-off's jitter.
    ///   - onDelivered: an alert delivered and marked so.
    ///   - onTrouble: the destination went into trouble (the receiver refuses
    ///     an alert, or the primary failed and the backup took over) or out of
    ///     it (`cleared`); on transitions only, in the channel's words.
    /// - Throws: when the channel's destination is not one of the outbox's.
    public init(
        channel: any DeliveryChannel, outbox: Outbox, clock: any GatewayClock, logger: Logger,
        sleeper: any DeliverySleeper = RealSleeper(), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        onDelivered: @escaping @Sendable (PendingAlert, WallTime) -> Void = { _, _ in },
        onTrouble: @escaping @Sendable (_ cause: String, _ cleared: Bool) -> Void = { _, _ in }
    ) throws(DeliverySetupError) {
        guard outbox.destinations.contains(channel.destination) else {
            throw DeliverySetupError(message: "destination \"\(channel.destination)\" is not one of the outbox's destinations (\(outbox.destinations.joined(separator: ", "))); open the outbox with it")
        }
        self.channel = channel
        self.outbox = outbox
        self.clock = clock
        self.sleeper = sleeper
        self.random = random
        var logger = logger
        logger[metadataKey: "uplink.name"] = "\(channel.destination)"
        self.logger = logger
        self.state = Locked(DeliveryState(policy: channel.policy, now: clock.wallNow()))
        self.onDelivered = onDelivered
        self.onTrouble = onTrouble
    }

    /// Call after alerts were accepted into the outbox (or made due again);
    /// `urgent` when they include an alarm: a destination backing off then
    /// tries at once.
    public func alertsAccepted(urgent: Bool) {
        wakeup.signal(urgent: urgent)
    }

    /// A copy of the decisions' state, for tests.
    public var decisions: DeliveryState { state.value }

    /// The destination's health now.
    public var status: DeliveryStatus {
        let s = state.value
        return DeliveryStatus(
            name: channel.destination, kind: channel.kind, target: channel.target, activePath: s.paths.active,
            lastSuccess: s.lastSuccess, lastError: s.lastError, lastErrorAt: s.lastErrorAt,
            consecutiveFailures: s.paths.failures, backoffUntil: s.backoffUntil, refusal: s.refusal,
            communicationsTrouble: s.paths.inCommunicationsTrouble, clockOffsets: s.clockOffsets,
            lastHeartbeatAcknowledged: s.lastHeartbeatAcknowledged, delivered: s.delivered, lastFrameNumber: channel.lastFrameNumber, batches: batches.value)
    }

    public func run() async throws {
        await channel.open()
        await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler {
                // Heartbeats run as tasks of this group, beside the loop: a
                // slow or hanging one never holds an alarm back.
                await withTaskGroup(of: Void.self) { group in
                    await self.loop(spawn: { op in group.addTask { await op() } })
                    group.cancelAll()
                }
            } onCancel: {
                self.channel.interrupt()
            }
        }
        await channel.close()
    }

    // MARK: The loop

    private func loop(spawn: (@escaping @Sendable () async -> Void) -> Void) async {
        while !Task.isCancelled {
            // Signals given before this read are answered by it; an alarm
            // among them ends a back-off (a later one wakes the wait below).
            if wakeup.take().urgent { state.mutate { $0.alarmsArrived() } }
            let now = clock.wallNow()
            let head: PendingAlert?
            let due: [PendingAlert]
            let nextDue: WallTime?
            do {
                // One read for the head and what may go with it in a batch.
                due = try outbox.deliverable(destination: name, now: now, limit: max(1, channel.batchLimit))
                head = due.first
                nextDue = head == nil ? try outbox.nextDue(destination: name) : nil
            } catch {
                logger.error("cannot read the outbox; retrying", metadata: ["error": "\(error)"])
                _ = await sleeper.wait(until: now + .seconds(1), clock: clock, wakeup: wakeup, wakeOn: .nothing)
                continue
            }
            let step = state.value.next(now: now, head: head.map { .init(sequence: $0.sequence, isAlarm: $0.priority == .alarm) }, nextDue: nextDue)
            switch step {
            case .wait(let until, let wakeOn):
                let out = heartbeatOut
                await sleeper.settle(while: { out.value }, wakeup: wakeup)
                if await sleeper.wait(until: until, clock: clock, wakeup: wakeup, wakeOn: wakeOn) {
                    state.mutate { $0.alarmsArrived() }
                }
            case .deliver(_, let path):
                guard let alert = head else { continue }
                // A backlog goes in batches; a lone alert (a fresh alarm) at once, alone.
                if channel.batchLimit > 1, case let batch = Self.batch(of: due), batch.count > 1 {
                    switch await deliver(batch, on: path) {
                    case .done: continue
                    case .cancelled: return
                    case .sendAlone: break
                    }
                }
                let result = await attempt(on: path) { offset in await self.channel.deliver(alert, on: path, clockOffset: offset) }
                // A result that came back is carried out even when shutdown
                // began meanwhile: an acknowledged alert is marked delivered.
                if result == .cancelled { return }
                finish(result, alert: alert, on: path)
            case .heartbeat(let path):
                let now = clock.wallNow()
                state.mutate { $0.heartbeatStarted(now: now) }
                // One at a time: a heartbeat still out when the next is due is not doubled.
                guard heartbeatOut.mutate({ out -> Bool in defer { out = true }; return !out }) else {
                    logger.debug("previous heartbeat still unanswered; this one skipped")
                    continue
                }
                spawn {
                    let result = await self.attempt(on: path) { offset in await self.channel.heartbeat(on: path, clockOffset: offset) }
                    self.heartbeatOut.value = false
                    if result != .delivered { self.logger.debug("heartbeat not acknowledged", metadata: ["outcome": "\(result)"]) }
                    let at = self.clock.wallNow()
                    self.carryOut(self.state.mutate { $0.heartbeat(result, now: at) }, alert: nil, at: at)
                }
            case .supervise(let path):
                let result = await attempt(on: path) { offset in await self.channel.supervise(on: path, clockOffset: offset) }
                if result == .cancelled || Task.isCancelled { return }
                if result == .delivered { logger.debug("supervision acknowledged", metadata: ["path": "\(path.rawValue)"]) }
                let at = clock.wallNow()
                let r = random()
                carryOut(state.mutate { $0.supervision(result, on: path, now: at, random: r) }, alert: nil, at: at, what: "supervision")
            case .probePrimary:
                let result = await attempt(on: .primary) { offset in await self.channel.probe(clockOffset: offset) }
                if result == .cancelled || Task.isCancelled { return }
                let at = clock.wallNow()
                let r = random()
                carryOut(state.mutate { $0.probe(result, now: at, random: r) }, alert: nil, at: at, what: "probe of the primary")
            case .sendNotice(let notice):
                let result = await attempt(on: notice.path) { offset in await self.channel.sendNotice(notice, clockOffset: offset) }
                if result == .cancelled || Task.isCancelled { return }
                let at = clock.wallNow()
                let r = random()
                let what = notice.restored ? "restore notice" : "communications trouble notice"
                if result == .delivered { logger.notice("\(what) acknowledged", metadata: ["path": "\(notice.path.rawValue)"]) }
                carryOut(state.mutate { $0.notice(result, notice, now: at, random: r) }, alert: nil, at: at, what: what)
            }
        }
    }

    // MARK: Batches

    /// Of the alerts due (in delivery order, at most the channel's limit),
    /// those that go with the head in one exchange: the head and those of
    /// its priority after it (an alarm never waits behind telemetry).
    private static func batch(of due: [PendingAlert]) -> [PendingAlert] {
        guard let head = due.first else { return [] }
        return Array(due.prefix { $0.priority == head.priority })
    }

    private enum BatchOutcome { case done, cancelled, sendAlone }

    /// Delivers a batch and carries out each alert's result as if it had
    /// gone alone — but marks the delivered ones in one outbox transaction.
    private func deliver(_ batch: [PendingAlert], on path: DeliveryPath) async -> BatchOutcome {
        var result = await attemptBatch(on: path, batch)
        if case .each(let results) = result, results.isEmpty || results.count > batch.count {
            result = .whole(.failed("receiver answered \(results.count) results for \(batch.count) alerts", cause: "server"))
        }
        let at = clock.wallNow()
        switch result {
        case .unsupported:
            return .sendAlone
        case .whole(.cancelled):
            return .cancelled
        case .whole(let r):
            finish(r, alert: batch[0], on: path)
            return .done
        case .each(let all):
            // A result that is not an answer about that alert alone (no
            // reply, a pause) ends the batch there: the alerts after it stay
            // queued, in order, for the next attempt.
            let cut = all.firstIndex { r in
                switch r {
                case .delivered, .refused, .unsendable: false
                default: true
                }
            }
            let results = cut.map { Array(all[...$0]) } ?? all
            batches.mutate { $0 += 1 }
            var perAlert: [[DeliveryState.Effect]] = []
            for (alert, r) in zip(batch, results) {
                let rnd = random()
                perAlert.append(state.mutate { $0.delivery(r, sequence: alert.sequence, on: path, now: at, random: rnd) })
            }
            let delivered = perAlert.joined().compactMap { effect -> Int64? in
                if case .markDelivered(let s) = effect { s } else { nil }
            }
            do {
                try outbox.markDelivered(sequences: delivered, destination: name, at: at)
            } catch {
                logger.error("delivered but could not record it; they will be sent again", metadata: ["alerts": "\(delivered.count)", "error": "\(error)"])
            }
            for ((alert, r), effects) in zip(zip(batch, results), perAlert) {
                carryOut(effects.filter { if case .markDelivered = $0 { false } else { true } }, alert: alert, at: at)
                if r == .delivered { announceDelivered(alert, on: path, at: at) }
                count(r)
            }
            logger.debug("batch delivered", metadata: ["alerts": "\(results.count)", "delivered": "\(delivered.count)", "path": "\(path.rawValue)"])
            return .done
        }
    }

    /// Carries out the result of one attempt for `alert` (alone, or a
    /// batch's answer as a whole, taken as its head's).
    private func finish(_ result: AttemptResult, alert: PendingAlert, on path: DeliveryPath) {
        let at = clock.wallNow()
        let r = random()
        carryOut(state.mutate { $0.delivery(result, sequence: alert.sequence, on: path, now: at, random: r) }, alert: alert, at: at)
        if result == .delivered {
            logger.debug("delivered", metadata: ["alert.id": "\(alert.id)", "alert.sequence": "\(alert.sequence)", "path": "\(path.rawValue)"])
            announceDelivered(alert, on: path, at: at)
        }
        count(result)
    }

    private func announceDelivered(_ alert: PendingAlert, on path: DeliveryPath, at: WallTime) {
        channel.delivered(alert, on: path, at: at)
        onDelivered(alert, at)
    }

    /// A batch attempt, made again at once while the receiver refuses its time.
    private func attemptBatch(on path: DeliveryPath, _ batch: [PendingAlert]) async -> BatchAttemptResult {
        if Task.isCancelled { return .whole(.cancelled) }
        var corrections = 0
        while true {
            let result = await channel.deliver(batch: batch, on: path, clockOffset: state.value.clockOffset(path))
            guard case .whole(.clockRefused(let receiverTime, let otherwise)) = result else { return result }
            let now = clock.wallNow()
            let (retry, effects) = state.mutate { $0.clockRefused(on: path, receiverTime: receiverTime, now: now, corrections: corrections) }
            carryOut(effects, alert: nil, at: now)
            if !retry { return .whole(.refused(otherwise)) }
            corrections += 1
        }
    }

    /// One attempt, made again at once while the receiver refuses its time
    /// and the state says to correct the offset.
    private func attempt(on path: DeliveryPath, _ op: (Nanoseconds) async -> AttemptResult) async -> AttemptResult {
        if Task.isCancelled { return .cancelled }
        var corrections = 0
        while true {
            let result = await op(state.value.clockOffset(path))
            guard case .clockRefused(let receiverTime, let otherwise) = result else { return result }
            let now = clock.wallNow()
            let (retry, effects) = state.mutate { $0.clockRefused(on: path, receiverTime: receiverTime, now: now, corrections: corrections) }
            carryOut(effects, alert: nil, at: now)
            if !retry { return .refused(otherwise) }
            corrections += 1
        }
    }

    private func count(_ result: AttemptResult) {
        let cause: String
        switch result {
        case .failed(_, let c): cause = c
        case .refused, .clockRefused: cause = "refused"
        case .unsendable: cause = "unsendable"
        case .throttled: cause = "throttled"
        case .delivered, .cancelled: return
        }
        Counter(label: "panic_gateway_uplink_errors_total", dimensions: [("destination", name), ("cause", cause)]).increment()
    }

    /// Carries out what the state decided and says so in the log.
    private func carryOut(_ effects: [DeliveryState.Effect], alert: PendingAlert?, at now: WallTime, what: String = "delivery") {
        for effect in effects {
            switch effect {
            case .markDelivered(let sequence):
                do {
                    try outbox.markDelivered(sequence: sequence, destination: name, at: now)
                } catch {
                    // The receiver has it; the next attempt is a harmless duplicate.
                    logger.error("delivered but could not record it; it will be sent again", metadata: ["alert.sequence": "\(sequence)", "error": "\(error)"])
                }
            case .postpone(let sequence, let until, let reason):
                do {
                    try outbox.postpone(sequence: sequence, destination: name, until: until, error: reason)
                } catch {
                    logger.error("cannot postpone a refused alert", metadata: ["alert.sequence": "\(sequence)", "error": "\(error)"])
                }
                logger.error("receiver refused an alert; kept in the queue, retried at the capped interval", metadata: [
                    "alert.id": "\(alert?.id ?? "")", "alert.sequence": "\(sequence)", "reason": "\(reason)", "retry.at": "\(until)",
                ])
            case .troubleRaised(let t):
                if case .primaryUnreachable = t {
                    logger.warning("primary receiver failed; switching to the backup and reporting communications trouble over it", metadata: ["while": "\(what)"])
                }
                onTrouble(channel.describe(t), false)
            case .troubleCleared(let t):
                if case .refusing(let r) = t { logger.notice("receiver accepts alerts again", metadata: ["refusal.before": "\(r)"]) }
                if case .primaryUnreachable = t { logger.notice("primary receiver answers again; frames go to it", metadata: ["primary": "\(channel.target)"]) }
                onTrouble(channel.describe(t), true)
            case .reachableAgain(let path, let before):
                logger.notice("destination reachable again", metadata: ["path": "\(path.rawValue)", "failures.before": "\(before)"])
            case .unreachable(let path, let failures, let retryAt, let reason):
                let retry = retryAt.map { "\(max(0, ($0 - now).value / 1_000_000))" } ?? "0"
                logger.warning("destination unreachable; alerts stay queued on disk", metadata: [
                    "path": "\(path.rawValue)", "while": "\(what)", "reason": "\(reason)", "failures": "\(failures)", "retry.in_ms": "\(retry)",
                ])
            case .throttled(let until, let reason):
                logger.warning("receiver asked to slow down; alerts stay queued on disk", metadata: [
                    "reason": "\(reason)", "retry.in_ms": "\(max(0, (until - now).value / 1_000_000))",
                ])
            case .clockCorrected(let path, let offset):
                logger.notice("receiver refused the time of a message; clock offset corrected, sending again", metadata: [
                    "path": "\(path.rawValue)", "offset_ms": "\(offset.value / 1_000_000)",
                ])
            case .answeredWithoutTaking(let reason):
                logger.warning("receiver answered but did not take it", metadata: ["while": "\(what)", "reason": "\(reason)"])
            }
        }
    }
}

/// The delivery service cannot be set up as configured.
public struct DeliverySetupError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
