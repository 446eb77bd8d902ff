import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicOutbox
import ServiceLifecycle

/// Delivers one DC-09 destination's queue to an alarm receiving centre, one
/// frame at a time, and keeps the path supervised. Same outbox contract as
/// the HTTPS uplink:
///
/// - alarms first, then by sequence; each frame waits for its reply;
/// - `ACK` (matching sequence and account; `*ACK` when encrypted) is the
///   only thing that marks an alert delivered;
/// - `NAK` with the receiver's time corrects that receiver's clock offset
///   and the frame is sent again at once (twice at most);
/// - `DUH`, a bare `"NAK"` or an alert that does not fit the format: the
///   alert stays queued, postponed by `backoff_max_ms`, and the destination
///   is in trouble until the receiver acknowledges something;
/// - silence, refused connections, closed connections and unusable replies
///   back the destination off with jitter (new alarms cut the wait short),
///   and after `failover_after` of them the backup receiver takes over,
///   with a communications-trouble event (YS / 1350) sent over it and its
///   restore (YK / 3350) over the primary once that answers again.
///
/// Every transmission is stamped afresh (receiver clock as learnt from
/// NAKs) and carries the alert's time of occurrence in `[H…]`. A
/// retransmission reuses its sequence number (`DC09SequenceStore`).
public final class DC09Service: Service, @unchecked Sendable {
    public typealias Path = DC09PathState.Path

    public let config: DC09Config
    /// This destination's sequence numbers (`stateDirectory/dc09-NAME.seq`).
    public let sequences: DC09SequenceStore
    private let outbox: Outbox
    private let clock: any GatewayClock
    private let logger: Logger
    private let composer: DC09Composer
    private let codes: DC09CodeTable
    private let wakeup = DC09Wakeup()
    private let onAcknowledged: @Sendable (DC09Acknowledgement) -> Void
    private let onTrouble: @Sendable (_ cause: String, _ cleared: Bool) -> Void
    private let lock = SpinLock()
    private var paths: DC09PathState
    private var offsets: [Path: Nanoseconds] = [:]
    private var state: DC09Status
    private var lastExchange: WallTime
    private var generatedNumbers: [Bool: Int] = [:]

    /// - Parameters:
    ///   - stateDirectory: where `dc09-NAME.seq` is kept (the outbox's directory).
    ///   - onAcknowledged: every frame the receiver acknowledged.
    ///   - onTrouble: the destination went into trouble (the receiver refuses
    ///     an alert, or the primary failed and the backup took over), or out
    ///     of it (`cleared`). Called on transitions only.
    /// - Throws: when the destination is not one of the outbox's, or the key is unusable.
    public init(
        config: DC09Config, outbox: Outbox, clock: any GatewayClock, logger: Logger, stateDirectory: String,
        onAcknowledged: @escaping @Sendable (DC09Acknowledgement) -> Void = { _ in },
        onTrouble: @escaping @Sendable (_ cause: String, _ cleared: Bool) -> Void = { _, _ in }
    ) throws(DC09SetupError) {
        guard outbox.destinations.contains(config.name) else {
            throw DC09SetupError(message: "DC-09 destination \"\(config.name)\" is not one of the outbox's destinations (\(outbox.destinations.joined(separator: ", "))); open the outbox with it")
        }
        if let key = config.key {
            do { _ = try DC09Cipher(key: key) } catch { throw DC09SetupError(message: "DC-09 destination \"\(config.name)\": \(error)") }
        }
        self.config = config
        self.outbox = outbox
        self.clock = clock
        var logger = logger
        logger[metadataKey: "uplink.name"] = "\(config.name)"
        self.logger = logger
        self.composer = DC09Composer(config: config)
        self.codes = DC09CodeTable(overrides: config.codes)
        self.sequences = DC09SequenceStore(path: stateDirectory + "/dc09-\(config.name).seq")
        self.onAcknowledged = onAcknowledged
        self.onTrouble = onTrouble
        self.paths = DC09PathState(hasBackup: config.backup != nil, failoverAfter: config.failoverAfter, backoff: config.backoff)
        self.lastExchange = clock.wallNow()
        self.state = DC09Status(
            name: config.name, activeReceiver: .primary, consecutiveFailures: 0, communicationsTrouble: false,
            primaryClockOffset: .init(0), backupClockOffset: .init(0), delivered: 0,
            lastSequenceNumber: sequences.lastNumber)
    }

    /// A copy of the current state.
    public var status: DC09Status { lock.withLock { state } }

    /// Call after alerts were accepted into the outbox; `urgent` when the
    /// batch holds an alarm (a destination backing off then tries at once).
    public func alertsAccepted(urgent: Bool) {
        wakeup.signal(urgent: urgent)
    }

    public func run() async throws {
        let io = DC09IOThread(name: "dc09-\(config.name)")
        let interrupt = DC09Interrupt()
        var links: [Path: DC09Link] = [.primary: DC09Link(endpoint: config.primary, transport: config.transport, interrupt: interrupt)]
        if let b = config.backup { links[.backup] = DC09Link(endpoint: b, transport: config.transport, interrupt: interrupt) }
        let all = links
        if let problem = sequences.loadProblem { logger.warning("DC-09 sequence file problem", metadata: ["problem": "\(problem)"]) }
        logger.info("DC-09 destination running", metadata: [
            "dc09.primary": "\(config.primary)", "dc09.backup": "\(config.backup.map { "\($0)" } ?? "none")",
            "dc09.transport": "\(config.transport.rawValue)", "dc09.format": "\(config.format.rawValue)",
            "dc09.account": "\(config.account)", "dc09.encrypted": "\(config.key != nil)",
        ])
        await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler {
                await self.loop(io: io, links: all)
            } onCancel: {
                interrupt.fire()
            }
        }
        await io.run { for l in all.values { l.closeSocket() } }
        io.stop()
    }

    // MARK: The loop

    private func loop(io: DC09IOThread, links: [Path: DC09Link]) async {
        let x = Exchanger(io: io, links: links)
        while !Task.isCancelled {
            let now = clock.wallNow()
            let (probe, retryAt, probeAt) = lock.withLock { (paths.probeDue(now), paths.retryAt, paths.probePrimaryAt) }
            if probe {
                await probePrimary(x)
                continue
            }
            if let retryAt, retryAt > now {
                await waitOutBackoff(until: retryAt, probeAt: probeAt)
                continue
            }
            let next: PendingAlert?
            do {
                next = try outbox.deliverable(destination: config.name, now: now, limit: 1).first
            } catch {
                logger.error("cannot read the outbox; retrying", metadata: ["error": "\(error)"])
                await wakeup.wait(timeout: .seconds(1))
                continue
            }
            if let alert = next, alert.priority == .alarm {
                await deliver(alert, x)
                continue
            }
            if let owed = lock.withLock({ paths.owed }) {
                await sendOwed(owed, x)
                continue
            }
            if let alert = next {
                await deliver(alert, x)
                continue
            }
            if supervisionDue(now) {
                await supervise(x)
                continue
            }
            await wakeup.wait(timeout: idleWait(now: now, probeAt: probeAt))
        }
    }

    private func supervisionDue(_ now: WallTime) -> Bool {
        guard config.supervisionIntervalSeconds > 0 else { return false }
        return lock.withLock { lastExchange } + .seconds(Int64(config.supervisionIntervalSeconds)) <= now
    }

    private func idleWait(now: WallTime, probeAt: WallTime?) -> Duration {
        var wake = now + .seconds(60)
        if let due = try? outbox.nextDue(destination: config.name) { wake = min(wake, due) }
        if config.supervisionIntervalSeconds > 0 {
            wake = min(wake, lock.withLock { lastExchange } + .seconds(Int64(config.supervisionIntervalSeconds)))
        }
        if let probeAt { wake = min(wake, probeAt) }
        return .nanoseconds(max(1_000_000, (wake - now).value))
    }

    /// Sleeps through a back-off, waking early for alarms or a probe of the primary.
    private func waitOutBackoff(until: WallTime, probeAt: WallTime?) async {
        let deadline = probeAt.map { min($0, until) } ?? until
        while !Task.isCancelled {
            let remaining = deadline - clock.wallNow()
            if remaining.value <= 0 { return }
            if await wakeup.wait(timeout: .nanoseconds(remaining.value)) {
                lock.withLock {
                    paths.alarmsArrived()
                    state.backoffUntil = nil
                }
                return
            }
        }
    }

    // MARK: Frames

    private func deliver(_ pending: PendingAlert, _ x: Exchanger) async {
        let alert: Alert
        do {
            alert = try WireFormat.decode(Alert.self, from: pending.body)
        } catch {
            refuse(pending, reason: DC09EventError.unreadable("\(error)").description)
            return
        }
        let data: String
        do {
            data = try codes.event(for: alert).data(format: config.format, account: config.account)
        } catch {
            refuse(pending, reason: "alert \(pending.sequence) cannot be sent: \(error)")
            return
        }
        let number = sequences.number(forAlert: pending.sequence)
        let path = activePath
        let composer = self.composer
        let outcome = await transmit(number: number, on: path, x) { stamp in
            composer.eventFrame(data: data, sequence: number, sentAt: stamp, occurredAt: alert.occurredAt)
        }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged:
            answered(on: path, now: now)
            let clearedRefusal: String? = lock.withLock {
                let r = state.refusal
                state.refusal = nil
                state.delivered += 1
                state.lastSuccess = now
                return r
            }
            if let r = clearedRefusal {
                logger.notice("receiver accepts alerts again", metadata: ["refusal.before": "\(r)"])
                onTrouble("DC-09 receiver refused an alert: \(r)", true)
            }
            do {
                try outbox.markDelivered(sequence: pending.sequence, destination: config.name, at: now)
            } catch {
                // The receiver has it; the next attempt is a harmless duplicate.
                logger.error("delivered but could not record it; it will be sent again", metadata: ["alert.id": "\(pending.id)", "error": "\(error)"])
            }
            sequences.release(alert: pending.sequence)
            logger.debug("delivered", metadata: [
                "alert.id": "\(pending.id)", "alert.sequence": "\(pending.sequence)", "dc09.sequence": "\(number)", "dc09.receiver": "\(path.rawValue)",
            ])
            onAcknowledged(.init(what: .alert(sequence: pending.sequence, id: pending.id), number: number, receiver: path, at: now))
        case .refused(let reason):
            answered(on: path, now: now)
            refuse(pending, reason: reason)
        case .failed(let error):
            failed(on: path, error, now: now, what: "alert \(pending.sequence)")
        }
    }

    /// The receiver will not take this alert as it is: keep it, retry at the
    /// capped interval, and be in trouble until something is acknowledged.
    private func refuse(_ pending: PendingAlert, reason: String) {
        let now = clock.wallNow()
        let until = now + config.backoff.maximum
        do {
            try outbox.postpone(sequence: pending.sequence, destination: config.name, until: until, error: reason)
        } catch {
            logger.error("cannot postpone a refused alert", metadata: ["alert.sequence": "\(pending.sequence)", "error": "\(error)"])
        }
        let isNew: Bool = lock.withLock {
            let isNew = state.refusal == nil
            state.refusal = reason
            state.lastError = reason
            state.lastErrorAt = now
            return isNew
        }
        logger.error("receiver refused an alert; kept in the queue, retried at the capped interval", metadata: [
            "alert.id": "\(pending.id)", "alert.sequence": "\(pending.sequence)", "reason": "\(reason)",
            "retry.at": "\(until)",
        ])
        if isNew { onTrouble("DC-09 receiver refused an alert: \(reason)", false) }
    }

    private func supervise(_ x: Exchanger) async {
        let number = sequences.fresh()
        let path = activePath
        let composer = self.composer
        let outcome = await transmit(number: number, on: path, x) { stamp in composer.supervisionFrame(sequence: number, sentAt: stamp) }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged:
            answered(on: path, now: now)
            lock.withLock { state.lastSupervisionAcknowledged = now }
            logger.debug("supervision acknowledged", metadata: ["dc09.sequence": "\(number)", "dc09.receiver": "\(path.rawValue)"])
            onAcknowledged(.init(what: .supervision, number: number, receiver: path, at: now))
        case .refused(let reason):
            answered(on: path, now: now)
            logger.warning("receiver answered the supervision message but did not acknowledge it", metadata: ["reason": "\(reason)"])
        case .failed(let error):
            failed(on: path, error, now: now, what: "supervision")
        }
    }

    /// While on the backup: is the primary back?
    private func probePrimary(_ x: Exchanger) async {
        let number = sequences.fresh()
        let composer = self.composer
        let outcome = await transmit(number: number, on: .primary, x) { stamp in composer.nullFrame(sequence: number, sentAt: stamp) }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged, .refused:
            answered(on: .primary, now: now)
            logger.notice("primary receiver answers again; frames go to it", metadata: ["dc09.primary": "\(config.primary)"])
            onTrouble("DC-09 primary receiver \(config.primary) unreachable", true)
            if case .acknowledged = outcome {
                onAcknowledged(.init(what: .supervision, number: number, receiver: .primary, at: now))
            }
        case .failed(let error):
            failed(on: .primary, error, now: now, what: "probe of the primary")
        }
    }

    /// Communications trouble over the backup, or its restore over the primary.
    private func sendOwed(_ owed: DC09PathState.Generated, _ x: Exchanger) async {
        let number: Int = lock.withLock { generatedNumbers[owed.restored] } ?? {
            let n = sequences.fresh()
            lock.withLock { generatedNumbers[owed.restored] = n }
            return n
        }()
        let event = DC09Event.communicationsTrouble(restored: owed.restored)
        let data = (try? event.data(format: config.format, account: config.account)) ?? ""
        let composer = self.composer
        let outcome = await transmit(number: number, on: owed.path, x) { stamp in
            composer.eventFrame(data: data, sequence: number, sentAt: stamp, occurredAt: owed.occurredAt)
        }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged, .refused:
            lock.withLock {
                paths.generatedSettled(restored: owed.restored)
                generatedNumbers[owed.restored] = nil
            }
            answered(on: owed.path, now: now)
            if case .refused(let reason) = outcome {
                logger.error("receiver would not take the communications \(owed.restored ? "restore" : "trouble") event; not retried", metadata: ["reason": "\(reason)"])
            } else {
                logger.notice("communications \(owed.restored ? "restore (YK/3350)" : "trouble (YS/1350)") acknowledged", metadata: ["dc09.receiver": "\(owed.path.rawValue)"])
                onAcknowledged(.init(what: .communicationsTrouble(restored: owed.restored), number: number, receiver: owed.path, at: now))
            }
        case .failed(let error):
            failed(on: owed.path, error, now: now, what: "communications \(owed.restored ? "restore" : "trouble") event")
        }
    }

    // MARK: One exchange

    private enum Outcome {
        case acknowledged
        /// The receiver answered but will not take it (DUH, NAK).
        case refused(String)
        case failed(DC09LinkError)
    }

    /// The sockets and the thread they are used on, for one run.
    private struct Exchanger: Sendable {
        let io: DC09IOThread
        let links: [Path: DC09Link]
    }

    /// Sends the frame `build` makes for a timestamp until it is answered:
    /// a NAK with the receiver's time corrects the offset and sends again.
    private func transmit(number: Int, on path: Path, _ x: Exchanger, build: (WallTime) -> DC09Frame) async -> Outcome {
        guard let link = x.links[path] else { return .failed(.cancelled) }
        let maxAttempts = 3
        for attempt in 1...maxAttempts {
            let offset = lock.withLock { offsets[path] ?? .init(0) }
            let bytes: [UInt8]
            do {
                bytes = try composer.encode(build(clock.wallNow() + offset))
            } catch {
                return .refused("cannot build the frame: \(error)")
            }
            lock.withLock { state.lastSequenceNumber = number }
            let account = config.account
            let key = config.key
            let timeout = config.ackTimeoutMilliseconds
            let result = await x.io.run {
                link.exchange(bytes, timeoutMilliseconds: timeout) { Self.judge($0, number: number, account: account, key: key) }
            }
            switch result {
            case .success(.ack):
                return .acknowledged
            case .success(.nak(let time?, _)) where attempt < maxAttempts:
                let offset = time - clock.wallNow()
                lock.withLock {
                    offsets[path] = offset
                    if path == .primary { state.primaryClockOffset = offset } else { state.backupClockOffset = offset }
                }
                logger.notice("receiver refused the timestamp (NAK); clock offset corrected, sending again", metadata: [
                    "dc09.receiver": "\(path.rawValue)", "dc09.sequence": "\(number)", "offset_ms": "\(offset.value / 1_000_000)",
                ])
            case .success(.nak(_, true)):
                return .refused("bare \"NAK\": the receiver does not know account \(config.account) (or expects a different key)")
            case .success(.nak(let time, _)):
                return .refused(time == nil ? "NAK without the receiver's time" : "NAK: timestamp refused again after correcting the clock offset")
            case .success(.duh):
                return .refused("DUH: the receiver cannot process this event (an unknown code?)")
            case .success(.bareAck):
                return .failed(.badReply(endpoint: link.endpoint.description, .bareAcknowledgement))
            case .failure(let e):
                return .failed(e)
            }
        }
        return .refused("NAK: timestamp refused again after correcting the clock offset")
    }

    /// What a reply means for the frame numbered `number`.
    static func judge(_ bytes: [UInt8], number: Int, account: String, key: [UInt8]?) -> DC09Verdict {
        let reply: DC09Reply
        do {
            reply = try DC09Reply.parse(bytes, key: key)
        } catch {
            return .reject(error)
        }
        switch reply {
        case .ack(let seq, let acct, let encrypted):
            if seq != number { return .ignore("ACK for sequence \(seq), expected \(number)") }
            if let acct, acct.uppercased() != account { return .ignore("ACK for account \(acct), expected \(account)") }
            if key != nil, !encrypted { return .reject(.plaintextAcknowledgement) }
            return .accept(reply)
        case .duh(let seq?) where seq != number:
            return .ignore("DUH for sequence \(seq), expected \(number)")
        case .bareAck:
            return .reject(.bareAcknowledgement)
        default:
            return .accept(reply)
        }
    }

    // MARK: Path bookkeeping

    private var activePath: Path { lock.withLock { paths.active } }

    private func answered(on path: Path, now: WallTime) {
        let recovered: Int = lock.withLock {
            let before = state.consecutiveFailures
            paths.answered(on: path, now: now)
            if path == paths.active { lastExchange = now }
            syncPathStatus()
            return before
        }
        if recovered > 0 {
            logger.notice("receiver reachable again", metadata: ["dc09.receiver": "\(path.rawValue)", "failures.before": "\(recovered)"])
        }
    }

    private func failed(on path: Path, _ error: DC09LinkError, now: WallTime, what: String) {
        if error == .cancelled || Task.isCancelled { return }
        let random = Double.random(in: 0..<1)
        let (switched, failures, retryAt, onBackup) = lock.withLock {
            let switched = paths.failed(on: path, now: now, random: random)
            state.lastError = "\(path.rawValue) receiver: \(error)"
            state.lastErrorAt = now
            syncPathStatus()
            return (switched, path == .primary ? paths.primaryFailures : paths.failures, paths.retryAt, paths.active == .backup)
        }
        if switched {
            logger.warning("primary receiver failed; switching to the backup and reporting communications trouble over it", metadata: [
                "reason": "\(error)", "failures": "\(failures)", "dc09.backup": "\(config.backup.map { "\($0)" } ?? "")",
            ])
            onTrouble("DC-09 primary receiver \(config.primary) unreachable", false)
        } else if failures == 1 || failures % 10 == 0 {
            let retry = retryAt.map { "\(max(0, ($0 - now).value / 1_000_000))" } ?? "0"
            logger.warning(onBackup && path == .primary ? "primary receiver still unreachable" : "receiver unreachable; alerts stay queued on disk", metadata: [
                "dc09.receiver": "\(path.rawValue)", "while": "\(what)", "reason": "\(error)", "failures": "\(failures)", "retry.in_ms": "\(retry)",
            ])
        }
    }

    /// Copies the path state into the status; call under `lock`.
    private func syncPathStatus() {
        state.activeReceiver = paths.active
        state.consecutiveFailures = paths.failures
        state.backoffUntil = paths.retryAt
        state.communicationsTrouble = paths.inCommunicationsTrouble
    }
}

/// The DC-09 service cannot be set up as configured.
public struct DC09SetupError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
