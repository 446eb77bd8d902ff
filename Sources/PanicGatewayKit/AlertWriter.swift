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
        let t = Thread { [self] in self.run() }
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

    private func run() {
        defer { state.update { $0.finished = true } }
        while true {
            let next: (batch: [Item], tests: Set<Int>)? = state.wait(until: { !$0.queue.isEmpty || $0.stopping }) { s, _ in
                if s.queue.isEmpty { return nil }
                defer { s.queue.removeAll(keepingCapacity: true) }
                return (s.queue, s.testInputs)
            }
            guard let (batch, tests) = next else { return }

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
            if drafts.isEmpty { continue }
            var attempt = 0
            while true {
                do {
                    let accepted = try outbox.accept(drafts, gatewayID: gatewayID, site: site, at: clock.wallNow())
                    onAccepted(accepted)
                    break
                } catch {
                    attempt += 1
                    // Nothing is dropped: the batch is retried until the disk takes it.
                    if attempt == 1 || attempt % 50 == 0 {
                        logger.critical("cannot commit alerts to the outbox; retrying", metadata: [
                            "error": "\(error)", "alerts.waiting": "\(drafts.count)", "attempt": "\(attempt)",
                        ])
                    }
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
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
