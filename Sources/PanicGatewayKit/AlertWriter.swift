import Foundation
import Logging
import PanicCore
import PanicOutbox
import PanicInputs
import PanicPlatform

/// The outbox's only writer: a thread that takes what the input loop hands
/// over, turns it into alert drafts, and commits everything waiting in one
/// transaction (a burst shares one fsync). Handing over never blocks the
/// input loop; an alert counts as accepted only when `onAccepted` sees it.
public final class AlertWriter: @unchecked Sendable {
    /// What can be handed to the writer.
    public enum Item: Sendable {
        case decision(input: Int, DebounceDecision)
        case trouble(input: Int?, cause: String, cleared: Bool)
        case openLoop(input: Int, since: MonotonicInstant, cleared: Bool)
        case draft(AlertDraft)
        /// Not an alert: a raw edge to log at debug level (edge tracing).
        case trace(input: Int, asserted: Bool, at: MonotonicInstant, readAt: MonotonicInstant)
    }

    private let outbox: Outbox
    private let inputs: InputTable
    private let gatewayID: String
    private let site: String
    private let clock: any GatewayClock
    private let logger: Logger
    private let onAccepted: @Sendable ([Alert]) -> Void
    private struct State {
        var queue: [Item] = []
        var stopping = false
        var running = false
        var finished = false
        var testInputs = Set<Int>()
    }
    private let state = Monitor(State())

    public init(
        outbox: Outbox, inputs: InputTable, gatewayID: String, site: String, clock: any GatewayClock,
        logger: Logger, onAccepted: @escaping @Sendable ([Alert]) -> Void
    ) {
        self.outbox = outbox
        self.inputs = inputs
        self.gatewayID = gatewayID
        self.site = site
        self.clock = clock
        self.logger = logger
        self.onAccepted = onAccepted
    }

    /// Hands an item over; returns at once.
    public func submit(_ item: Item) {
        state.update { $0.queue.append(item) }
    }

    /// While on, presses of `input` are sent as test alerts.
    public func setTestMode(input: Int, on: Bool) {
        state.update { s in
            if on { s.testInputs.insert(input) } else { s.testInputs.remove(input) }
        }
    }

    public func start() {
        let t = Thread { [self] in nameCurrentThread("outbox-writer"); self.run() }
        t.name = "outbox-writer"
        state.update { $0.running = true }
        t.start()
    }

    /// Commits what is queued, then ends the thread.
    public func stop() {
        let running: Bool = state.update { s in
            defer { s.stopping = true }
            return s.running && !s.stopping
        }
        if running { state.wait(until: { $0.finished }) { _, _ in } }
    }

    /// Held telemetry beyond this many held alerts is dropped (and counted)
    /// while the disk does not take writes; alarms are always held.
    public static let heldTelemetryLimit = 1_000

    /// How often what is held in memory is offered to the disk again.
    static let unwrittenRetry = Nanoseconds.milliseconds(500)

    /// How often a given-up reserve is made again when there is room.
    static let reserveRetry = Nanoseconds.seconds(10)

    private struct DiskTrouble {
        /// The unwritable trouble is raised (its cause).
        var unwritable: String?
        var reserveGivenUp = false
        var lastReserveTry: MonotonicInstant?
    }
    /// The writer thread's own: read and written only by `run`.
    private var disk = DiskTrouble()

    private func run() {
        defer { state.update { $0.finished = true } }
        while true {
            let retrying = outbox.hasUnwritten || disk.reserveGivenUp || disk.unwritable != nil
            let next: (batch: [Item], tests: Set<Int>, stopping: Bool)? = state.wait(
                until: { !$0.queue.isEmpty || $0.stopping }, timeout: retrying ? Self.unwrittenRetry : nil
            ) { s, ready in
                if !ready { return ([], s.testInputs, false) }
                if s.queue.isEmpty { return nil }
                defer { s.queue.removeAll(keepingCapacity: true) }
                return (s.queue, s.testInputs, s.stopping)
            }
            guard let (batch, tests, stopping) = next else {
                finalWrite()
                return
            }

            let synced = ClockDiscipline.current().synchronized
            var drafts: [AlertDraft] = []
            drafts.reserveCapacity(batch.count)
            for item in batch {
                if case .trace(let i, let asserted, let at, let readAt) = item {
                    logger.debug("edge", metadata: [
                        "input.name": "\(inputs[i].name)", "level": "\(asserted ? 1 : 0)", "edge.mono_ns": "\(at.nanoseconds)",
                        "read.mono_ns": "\(readAt.nanoseconds)", "read.latency_us": "\((readAt.nanoseconds - at.nanoseconds) / 1000)",
                    ])
                } else {
                    drafts.append(draft(for: item, synced: synced, tests: tests))
                }
            }
            commit(drafts, synced: synced)
            if stopping && state.read({ $0.queue.isEmpty }) {
                finalWrite()
                return
            }
        }
    }

    /// Commits the drafts, or holds them in memory when the disk does not
    /// take them; raises and clears the outbox's own trouble.
    private func commit(_ drafts: [AlertDraft], synced: Bool) {
        var drafts = drafts
        if outbox.hasUnwritten, drafts.isEmpty {
            if let error = outbox.writeUnwritten(at: clock.wallNow()) {
                logger.debug("outbox still does not take writes", metadata: ["error": "\(error)"])
            }
        }
        if !outbox.hasUnwritten, disk.unwritable != nil {
            disk.unwritable = nil
            drafts.append(AlertRules.trouble(
                input: nil, cause: "outbox writes again: alerts held in memory are stored", cleared: true,
                occurredAt: clock.wallNow(), clockSynchronized: synced))
            logger.notice("outbox writes again; the alerts held in memory are stored")
        }
        if disk.reserveGivenUp, !outbox.hasUnwritten, reserveDue() {
            if outbox.restoreReserve() {
                disk.reserveGivenUp = false
                drafts.append(AlertRules.trouble(
                    input: nil, cause: "outbox reserve restored: there is room on the disk again", cleared: true,
                    occurredAt: clock.wallNow(), clockSynchronized: synced))
                logger.notice("outbox reserve restored")
            }
        }
        if outbox.hasUnwritten, outbox.unwrittenAlerts.count >= Self.heldTelemetryLimit {
            // Memory is for alarms: telemetry beyond the limit is given up, counted.
            let before = drafts.count
            drafts.removeAll { $0.priority == .telemetry && !($0.kind == .trouble && $0.input == nil) }
            if drafts.count < before {
                outbox.dropTelemetryWhileUnwritable(before - drafts.count)
                logger.warning("telemetry dropped: the disk does not take writes", metadata: ["alerts.dropped": "\(before - drafts.count)"])
            }
        }
        if drafts.isEmpty { return }
        var result = outbox.acceptOrHold(drafts, gatewayID: gatewayID, site: site, at: clock.wallNow())
        var extra: [AlertDraft] = []
        if result.releasedReserve {
            disk.reserveGivenUp = true
            disk.lastReserveTry = clock.monotonicNow()
            logger.critical("disk full: the outbox's reserve was given up so alarms are still stored; free space on the state directory's filesystem")
            extra.append(AlertRules.trouble(
                input: nil, cause: "disk full: the outbox's reserve was given up so alarms are still stored; free space on the gateway's disk",
                cleared: false, occurredAt: clock.wallNow(), clockSynchronized: synced))
        }
        if let error = result.unwritten, disk.unwritable == nil {
            let cause = "outbox cannot write (\(error.underlying)); alerts are sent from memory and are lost if the gateway restarts"
            disk.unwritable = cause
            logger.critical("cannot commit alerts to the outbox; holding them in memory, delivering them from there, and retrying the disk", metadata: [
                "error": "\(error)", "alerts.held": "\(outbox.unwrittenAlerts.count)",
            ])
            extra.append(AlertRules.trouble(
                input: nil, cause: String(cause.prefix(400)), cleared: false, occurredAt: clock.wallNow(), clockSynchronized: synced))
        }
        onAccepted(result.alerts)
        if !extra.isEmpty {
            result = outbox.acceptOrHold(extra, gatewayID: gatewayID, site: site, at: clock.wallNow())
            onAccepted(result.alerts)
        }
    }

    private func reserveDue() -> Bool {
        let now = clock.monotonicNow()
        if let last = disk.lastReserveTry, now - last < Self.reserveRetry { return false }
        disk.lastReserveTry = now
        return true
    }

    /// At stop: one more offer of what is held to the disk; what it still
    /// refuses is lost with the process, and said so.
    private func finalWrite() {
        guard outbox.hasUnwritten else { return }
        if let error = outbox.writeUnwritten(at: clock.wallNow()) {
            logger.critical("stopping with alerts the disk did not take: they were sent from memory if a receiver answered, and are not kept", metadata: [
                "error": "\(error)", "alerts.held": "\(outbox.unwrittenAlerts.count)",
            ])
        }
    }

    private func draft(for item: Item, synced: Bool, tests: Set<Int>) -> AlertDraft {
        switch item {
        case .decision(let i, let d):
            return AlertRules.draft(
                for: d, of: inputs[i], occurredAt: clock.wallTime(of: d.firstEdge), clockSynchronized: synced,
                test: tests.contains(i))
        case .trouble(let i, let cause, let cleared):
            return AlertRules.trouble(
                input: i.map { inputs[$0] }, cause: cause, cleared: cleared, occurredAt: clock.wallNow(), clockSynchronized: synced)
        case .openLoop(let i, let since, let cleared):
            return AlertRules.openLoop(
                input: inputs[i], since: clock.wallTime(of: since), cleared: cleared, occurredAt: clock.wallNow(), clockSynchronized: synced)
        case .draft(let d):
            return d
        case .trace:
            preconditionFailure("traces are logged, not drafted")
        }
    }
}
