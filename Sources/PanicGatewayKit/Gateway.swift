import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDC09
import PanicDelivery
import PanicInputs
import PanicOutbox
import PanicPlatform
import PanicSigning
import PanicUplink
import ServiceLifecycle

/// Hooks for whoever watches the gateway work (the demo, benchmarks, tests).
public struct GatewayObserver: Sendable {
    public var accepted: @Sendable ([Alert]) -> Void
    public var delivered: @Sendable (String, PendingAlert, WallTime) -> Void
    public var ready: @Sendable () -> Void

    public init(
        accepted: @escaping @Sendable ([Alert]) -> Void = { _ in },
        delivered: @escaping @Sendable (String, PendingAlert, WallTime) -> Void = { _, _, _ in },
        ready: @escaping @Sendable () -> Void = {}
    ) {
        self.accepted = accepted
        self.delivered = delivered
        self.ready = ready
    }
}

/// The daemon assembled from its configuration: input loop → writer →
/// outbox → one delivery service per destination (HTTPS or DC-09). The executable, the demo,
/// the benchmarks and the tests all build it through this one type.
public final class Gateway: Sendable {
    public let config: GatewayConfig
    public let outbox: Outbox
    public let loop: InputLoop
    public let writer: AlertWriter
    /// Every destination, in configuration order (HTTPS, then DC-09), each
    /// its own `DeliveryService`.
    public let destinations: [DeliveryService]
    let logger: Logger
    /// Removed after a graceful shutdown; found at the next start otherwise.
    let runMarker: RunMarker

    /// - Parameters:
    ///   - sources: replaces the configured source of the inputs named (the
    ///     demo feeds pipes it holds the other end of).
    ///   - enableControl: serve the control socket named in the configuration.
    ///   - traceEdges: log every raw edge at debug level with its kernel stamp
    ///     and the time the loop read it (off the loop thread, by the writer).
    public init(
        config: GatewayConfig, key: SigningKey, clock: any GatewayClock = SystemClock(), logger: Logger,
        sources: [String: any InputSource] = [:], gpioBackend: any GPIOBackend = LibgpiodBackend(),
        traceEdges: Bool = false, enableControl: Bool = true,
        observer: GatewayObserver = .init()
    ) throws {
        self.config = config
        self.logger = logger
        try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
        let started = clock.wallNow()
        let (marker, markerProblem) = RunMarker.begin(stateDirectory: config.stateDirectory, startedAt: started)
        self.runMarker = marker
        if let markerProblem { logger.warning("run marker not written; the next start cannot tell how this run ended", metadata: ["cause": "\(markerProblem)"]) }
        if marker.previousStop == Heartbeat.RestartNotice.unclean {
            logger.warning("the previous run did not stop cleanly (a crash, the watchdog, kill -9 or a power cut); the receiver is told")
        }
        let restart = Heartbeat.RestartNotice(previousStop: marker.previousStop, startedAt: started)
        let outbox = try Outbox(path: config.outboxPath, destinations: config.destinationNames, maximumTelemetry: config.maximumTelemetry,
                                reserveBytes: config.outboxReserveBytes)
        self.outbox = outbox

        let deliveries = Locked<[DeliveryService]>([])
        let hub = EventHub()
        let tracker = DeliveryTracker()
        self.hub = hub
        self.tracker = tracker
        let table = InputTable(config.inputs.map(\.spec))
        let lamps = try Lamps.open(config, backend: gpioBackend, clock: clock, logger: logger)
        self.lamps = lamps
        let writer = AlertWriter(
            outbox: outbox, inputs: table, gatewayID: config.gatewayID, site: config.site,
            clock: clock, logger: logger
        ) { accepted in
            let urgent = accepted.contains { $0.priority == .alarm }
            for d in deliveries.value { d.alertsAccepted(urgent: urgent) }
            tracker.recordAccepted(accepted)
            lamps.accepted(accepted)
            GatewayMetrics.accepted(accepted)
            if hub.hasSubscribers {
                for a in accepted {
                    hub.publish(.accepted(id: a.id, sequence: a.sequence, kind: a.kind.rawValue, input: a.input, test: a.test, wall: a.acceptedAt.rfc3339))
                }
            }
            observer.accepted(accepted)
        }
        self.writer = writer

        let built = try InputWiring.devices(
            config: config, indices: Array(config.inputs.indices), overrides: sources, gpioBackend: gpioBackend, clock: clock, logger: logger)
        let devices = built.devices
        self.wiring = Locked((config, built.sources))
        self.reloadContext = ReloadContext(overrides: sources, gpioBackend: gpioBackend, clock: clock)
        self.loop = try InputLoop(table: table, devices: devices, clock: clock, logger: logger) { event in
            switch event {
            case .edge(let i, let asserted, let at, let readAt):
                if traceEdges { writer.submit(.trace(input: i, asserted: asserted, at: at, readAt: readAt)) }
            case .decision(let i, let d): writer.submit(.decision(input: i, d))
            case .trouble(let i, let cause, let cleared):
                writer.submit(.trouble(input: i, cause: cause, cleared: cleared))
                GatewayMetrics.trouble(input: table[i].name, active: !cleared)
            case .openLoop(let i, let since, let cleared): writer.submit(.openLoop(input: i, since: since, cleared: cleared))
            }
            if hub.hasSubscribers { hub.publish(GatewayControl.describe(event, inputs: table, clock: clock)) }
        }

        let signer = SignerBox(MessageSigner(key: key))
        self.signer = signer
        let ids = AlertIDGenerator()
        let loop = self.loop
        let log = logger
        let delivered: @Sendable (String, PendingAlert, WallTime) -> Void = { name, pending, at in
            tracker.recordDelivered(id: pending.id, destination: name, at: at)
            GatewayMetrics.delivered(pending, destination: name, at: at)
            if hub.hasSubscribers {
                hub.publish(.delivered(id: pending.id, sequence: pending.sequence, destination: name, wall: at.rfc3339))
            }
            observer.delivered(name, pending, at)
        }
        let trouble: @Sendable (String, String, Bool) -> Void = { name, cause, cleared in
            if cleared { log.notice("destination recovered", metadata: ["uplink.name": "\(name)", "cause": "\(cause)"]) }
            else { log.error("destination in trouble", metadata: ["uplink.name": "\(name)", "cause": "\(cause)"]) }
        }
        var destinations: [DeliveryService] = []
        for u in config.uplinks {
            let heartbeat: @Sendable () -> Heartbeat? = {
                Self.heartbeat(config: config, uplink: u, outbox: outbox, loop: loop, clock: clock, ids: ids)
            }
            let channel = try HTTPSChannel(config: u, signer: signer, clock: clock, heartbeat: heartbeat, restart: restart)
            destinations.append(try DeliveryService(
                channel: channel, outbox: outbox, clock: clock, logger: logger,
                onDelivered: { delivered(u.name, $0, $1) }, onTrouble: { trouble(u.name, $0, $1) }))
        }
        for c in config.dc09Uplinks {
            destinations.append(try DeliveryService.dc09(
                config: c, outbox: outbox, clock: clock, logger: logger, stateDirectory: config.stateDirectory,
                onDelivered: { delivered(c.name, $0, $1) }, onTrouble: { trouble(c.name, $0, $1) }))
        }
        self.destinations = destinations
        deliveries.value = destinations
        // The lamps learn what the control room did from the central
        // receiver (the first HTTPS uplink), by a held-open poll.
        if !lamps.isEmpty, let central = config.uplinks.first {
            self.acknowledgements = try AcknowledgementPoller(uplink: central, gatewayID: config.gatewayID, signer: signer, clock: clock,
                                                              board: lamps.board, changed: { lamps.changed() }, logger: logger)
        } else {
            self.acknowledgements = nil
        }
        let inputsOpen = InputsOpen()
        self.inputsOpen = inputsOpen
        self.pipeline = InputPipelineService(loop: loop, writer: writer, onReady: {
            observer.ready()
            inputsOpen.open()
        })
        self.pruning = OutboxPruningService(
            outbox: outbox, retention: OutboxRetention(keepDays: config.keepDeliveredDays, keepRows: config.keepDeliveredRows),
            clock: clock, logger: logger)
        if enableControl {
            let handler = GatewayControl(config: config, outbox: outbox, loop: loop, writer: writer, destinations: destinations,
                                         hub: hub, tracker: tracker, clock: clock, signer: signer, lamps: lamps)
            self.control = ControlServer(path: config.controlSocket, group: config.controlGroup, handler: handler, logger: logger)
        } else {
            self.control = nil
        }

        let report = outbox.openReport
        if let moved = report.corruptFileMovedTo {
            logger.critical("outbox was corrupt; moved aside and salvaged", metadata: [
                "moved.to": "\(moved)", "salvaged": "\(report.salvagedAlerts)", "reason": "\(report.corruption ?? "")",
            ])
            writer.submit(.draft(AlertRules.trouble(
                input: nil,
                cause: "outbox database corrupt (\(report.corruption ?? "unknown")); moved to \(moved); \(report.salvagedAlerts) alert(s) salvaged; sequence numbers jump",
                cleared: false, occurredAt: clock.wallNow(), clockSynchronized: ClockDiscipline.current().synchronized)))
        }
        if report.pendingAtStart > 0 {
            logger.notice("undelivered alerts found at start; delivering", metadata: ["pending": "\(report.pendingAtStart)"])
        }
    }

    private let pipeline: InputPipelineService
    /// The lamps at the buttons (none when no input has one).
    public let lamps: Lamps
    /// Asks the central receiver what the control room did (with lamps only).
    let acknowledgements: AcknowledgementPoller?
    /// Prunes delivered alerts past their retention, in small steps.
    let pruning: OutboxPruningService
    /// The configuration in force and the sources it made (for reloads).
    let wiring: Locked<(GatewayConfig, InputWiring.Sources)>
    struct ReloadContext: @unchecked Sendable {
        var overrides: [String: any InputSource]
        var gpioBackend: any GPIOBackend
        var clock: any GatewayClock
    }
    let reloadContext: ReloadContext
    private let control: ControlServer?
    /// The signing key in use (swapped by a key rotation).
    public let signer: SignerBox
    /// Live events for control-socket clients.
    public let hub: EventHub
    let tracker: DeliveryTracker

    /// Every long-running job, in start order (shutdown runs in reverse, so
    /// destinations stop first and the writer commits last). All but the
    /// input pipeline begin once the inputs are open.
    public var services: [any Service] {
        var later: [any Service] = [pruning] + destinations.map { $0 as any Service } + (control.map { [$0 as any Service] } ?? [])
        if !lamps.isEmpty { later.append(lamps) }
        if let acknowledgements { later.append(acknowledgements) }
        return [pipeline] + later.map { AfterInputsOpen(inputs: inputsOpen, service: $0) }
    }
    /// Opened by the pipeline once the inputs are open: the other services wait for it.
    private let inputsOpen: InputsOpen

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully; with
    /// `configPath`, SIGHUP reloads the configuration from it.
    public func run(configPath: String? = nil, extraServices: [any Service] = [],
                    willReload: @escaping @Sendable () -> Void = {},
                    onReload: @escaping @Sendable (ReloadOutcome) -> Void = { _ in }) async throws {
        var all = services
        if let configPath { all.append(ReloadOnHangup(gateway: self, path: configPath, willReload: willReload, onReload: onReload)) }
        // Last to start, first to hear of shutdown: the watchdog says STOPPING=1.
        all += extraServices
        let group = ServiceGroup(configuration: .init(
            services: all.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        runMarker.end()
    }

    static func heartbeat(config: GatewayConfig, uplink: UplinkConfig, outbox: Outbox, loop: InputLoop, clock: any GatewayClock, ids: AlertIDGenerator) -> Heartbeat? {
        let now = clock.wallNow()
        let queue = (try? outbox.summary()) ?? []
        return Heartbeat(
            id: ids.next(at: now), gatewayID: config.gatewayID, site: config.site, sentAt: now,
            intervalSeconds: uplink.heartbeatIntervalSeconds, lastSequence: (try? outbox.lastSequence()) ?? 0,
            queue: queue.map {
                .init(destination: $0.destination, pending: $0.pending,
                      oldestPendingAgeSeconds: $0.oldestPendingAcceptedAt.map { (now - $0).seconds })
            },
            inputs: activeInputs(loop).map { .init(name: $0.name, state: $0.trouble != nil ? "trouble" : $0.pressed ? "pressed" : "idle") },
            clockSynchronized: ClockDiscipline.current().synchronized,
            evictedTelemetry: (try? outbox.evictedTelemetry()) ?? 0, nextPublicKey: (try? KeyFile.load(config.keyFile + ".next"))?.publicKey.base64)
    }
}

/// The state of the inputs still configured (one snapshot, not one per input).
func activeInputs(_ loop: InputLoop) -> [InputSnapshot] {
    let snapshot = loop.snapshot()
    return loop.table.active.compactMap { snapshot.indices.contains($0) ? snapshot[$0] : nil }
}
