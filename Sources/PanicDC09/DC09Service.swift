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
    let outbox: Outbox
    let clock: any GatewayClock
    let logger: Logger
    let composer: DC09Composer
    let codes: DC09CodeTable
    let wakeup = Wakeup()
    let onAcknowledged: @Sendable (DC09Acknowledgement) -> Void
    let onDelivered: @Sendable (PendingAlert, WallTime) -> Void
    let onTrouble: @Sendable (_ cause: String, _ cleared: Bool) -> Void
    let lock = SpinLock()
    var paths: DC09PathState
    var offsets: [Path: Nanoseconds] = [:]
    var state: DC09Status
    var lastExchange: WallTime
    var generatedNumbers: [Bool: Int] = [:]

    /// - Parameters:
    ///   - stateDirectory: where `dc09-NAME.seq` is kept (the outbox's directory).
    ///   - onAcknowledged: every frame the receiver acknowledged.
    ///   - onDelivered: an alert acknowledged and marked delivered (as `UplinkService`'s).
    ///   - onTrouble: the destination went into trouble (the receiver refuses
    ///     an alert, or the primary failed and the backup took over), or out
    ///     of it (`cleared`). Called on transitions only.
    /// - Throws: when the destination is not one of the outbox's, or the key is unusable.
    public init(
        config: DC09Config, outbox: Outbox, clock: any GatewayClock, logger: Logger, stateDirectory: String,
        onAcknowledged: @escaping @Sendable (DC09Acknowledgement) -> Void = { _ in },
        onDelivered: @escaping @Sendable (PendingAlert, WallTime) -> Void = { _, _ in },
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
        self.onDelivered = onDelivered
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

    func loop(io: DC09IOThread, links: [Path: DC09Link]) async {
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

    func supervisionDue(_ now: WallTime) -> Bool {
        guard config.supervisionIntervalSeconds > 0 else { return false }
        return lock.withLock { lastExchange } + .seconds(Int64(config.supervisionIntervalSeconds)) <= now
    }

    func idleWait(now: WallTime, probeAt: WallTime?) -> Duration {
        var wake = now + .seconds(60)
        if let due = try? outbox.nextDue(destination: config.name) { wake = min(wake, due) }
        if config.supervisionIntervalSeconds > 0 {
            wake = min(wake, lock.withLock { lastExchange } + .seconds(Int64(config.supervisionIntervalSeconds)))
        }
        if let probeAt { wake = min(wake, probeAt) }
        return .nanoseconds(max(1_000_000, (wake - now).value))
    }

    /// Sleeps through a back-off, waking early for alarms or a probe of the primary.
    func waitOutBackoff(until: WallTime, probeAt: WallTime?) async {
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
}

/// The DC-09 service cannot be set up as configured.
public struct DC09SetupError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
