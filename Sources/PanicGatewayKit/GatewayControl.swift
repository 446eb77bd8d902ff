import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDelivery
import PanicInputs
import PanicOutbox
import PanicPlatform
import PanicSigning
import PanicUplink

/// The commands of the control socket, answered from the running gateway.
final class GatewayControl: ControlHandler, @unchecked Sendable {
    let config: GatewayConfig
    let outbox: Outbox
    let loop: InputLoop
    let writer: AlertWriter
    let destinations: [DeliveryService]
    let hub: EventHub
    let tracker: DeliveryTracker
    let clock: any GatewayClock
    let signer: SignerBox
    let lamps: Lamps?
    let started = Date()
    private let testing = Locked<Set<Int>>([])

    init(config: GatewayConfig, outbox: Outbox, loop: InputLoop, writer: AlertWriter, destinations: [DeliveryService],
         hub: EventHub, tracker: DeliveryTracker, clock: any GatewayClock, signer: SignerBox, lamps: Lamps? = nil) {
        self.signer = signer
        self.lamps = lamps
        self.config = config
        self.outbox = outbox
        self.loop = loop
        self.writer = writer
        self.destinations = destinations
        self.hub = hub
        self.tracker = tracker
        self.clock = clock
    }

    func handle(command: String, args: [String: Any], stream: ControlStream) -> ControlResult {
        do {
            switch command {
            case "status": return .success(try status())
            case "watch": return watch(args["inputs"] as? [String] ?? [], stream: stream)
            case "test": return test(args, stream: stream)
            case "send-test":
                guard let timeout = ControlArguments.seconds(args["timeout_s"], default: 20) else { return .failure(ControlArguments.secondsProblem) }
                return sendTest(timeout: timeout)
            case "queue":
                guard let limit = ControlArguments.count(args["limit"], default: 50, range: 1...10_000) else {
                    return .failure("\"limit\" must be a whole number from 1 to 10000")
                }
                return .success(try queue(limit: limit))
            case "queue-show":
                guard let key = args["id"] as? String else { return .failure("queue-show needs \"id\": an alert id (or prefix) or sequence number") }
                guard let alert = try outbox.alert(matching: key) else { return .failure("no alert \(key) in the outbox") }
                return .success(try JSONSerialization.jsonObject(with: WireFormat.encoder().encode(alert)))
            case "queue-retry":
                let n = try outbox.retryNow()
                for d in destinations { d.alertsAccepted(urgent: true) }
                return .success(["made_due": n])
            case "clock": return .success(Self.clock())
            case "rotate-key": return rotateKey()
            default:
                return .failure("unknown command \"\(command)\"; known: status, watch, test, send-test, queue, queue-show, queue-retry, clock, rotate-key")
            }
        } catch {
            return .failure("\(error)")
        }
    }

    static func clock() -> [String: Any] {
        let c = ClockDiscipline.current()
        return ["synchronized": c.synchronized, "estimated_error_us": c.estimatedErrorMicroseconds, "maximum_error_us": c.maximumErrorMicroseconds]
    }

    func status() throws -> [String: Any] {
        let now = clock.wallNow()
        let snapshot = loop.snapshot()
        let tests = testing.value
        let table = loop.table
        let lampStates = lamps?.states() ?? [:]
        let inputs: [[String: Any]] = table.active.filter { $0 < snapshot.count }.map { i in
            let s = snapshot[i]
            let spec = table[i]
            // What the control room did with its alarm, as its lamp shows it:
            // "off", "blinking" (sent, waiting) or "steady" (acknowledged).
            return ["name": spec.name, "kind": spec.kind.rawValue, "zone": spec.zone, "area": spec.area,
                    "state": s.trouble != nil ? "trouble" : s.pressed ? "pressed" : "idle", "trouble": s.trouble as Any,
                    "test_mode": tests.contains(i), "lamp": lampStates[spec.name]?.rawValue as Any]
        }
        let links: [[String: Any]] = destinations.map { d in
            let s = d.status
            var link: [String: Any] = [
                "name": s.name, "kind": s.kind, "url": s.kind == "dc09" ? "\(s.target) (active: \(s.activePath.rawValue))" : s.target,
                "last_success": s.lastSuccess?.rfc3339 as Any, "last_error": s.lastError as Any,
                "last_error_at": s.lastErrorAt?.rfc3339 as Any, "consecutive_failures": s.consecutiveFailures,
                "backoff_until": s.backoffUntil?.rfc3339 as Any, "refusal": s.refusal as Any,
                "last_heartbeat_ack": s.lastHeartbeatAcknowledged?.rfc3339 as Any, "delivered": s.delivered,
                "active_path": s.activePath.rawValue, "communications_trouble": s.communicationsTrouble,
                "clock_offset_ms": s.clockOffset(s.activePath).value / 1_000_000,
            ]
            if let n = s.lastFrameNumber { link["dc09_sequence"] = n }
            return link
        }
        return ["gateway_id": config.gatewayID, "site": config.site, "uptime_s": Int(Date().timeIntervalSince(started)),
                "inputs": inputs, "uplinks": links, "queue": try queueSummary(now: now), "clock": Self.clock(),
                "last_sequence": try outbox.lastSequence(), "evicted_telemetry": try outbox.evictedTelemetry(),
                "outbox": Self.outboxHealth(outbox)]
    }

    /// Whether the disk takes the outbox's writes, and what is held in memory.
    static func outboxHealth(_ outbox: Outbox) -> [String: Any] {
        let held = outbox.unwrittenAlerts
        return ["writable": !outbox.hasUnwritten, "unwritten_alerts": held.count, "unwritten_reason": held.reason as Any,
                "reserve_in_place": outbox.reserveInPlace]
    }

    func queueSummary(now: WallTime) throws -> [[String: Any]] {
        try outbox.summary().map {
            ["destination": $0.destination, "pending": $0.pending, "pending_alarms": $0.pendingAlarms, "delivered": $0.delivered,
             "unwritten": $0.unwritten,
             "oldest_pending_age_s": $0.oldestPendingAcceptedAt.map { (now - $0).seconds } as Any]
        }
    }

    func queue(limit: Int) throws -> [String: Any] {
        let now = clock.wallNow()
        var pending: [String: Any] = [:]
        for name in config.destinationNames {
            pending[name] = try outbox.pending(destination: name, limit: limit).map {
                ["sequence": $0.sequence, "id": $0.id, "kind": $0.kind.rawValue, "attempts": $0.attempts, "durable": $0.durable,
                 "accepted_at": $0.acceptedAt.rfc3339, "last_error": $0.lastError as Any,
                 "next_attempt_at": $0.nextAttemptAt.nanosecondsSinceEpoch > 0 ? $0.nextAttemptAt.rfc3339 : NSNull()] as [String: Any]
            }
        }
        return ["summary": try queueSummary(now: now), "pending": pending]
    }

    // MARK: watch

    static func describe(_ e: InputLoopEvent, inputs: InputTable, clock: any GatewayClock) -> ControlEvent {
        let now = clock.wallNow().rfc3339
        switch e {
        case .edge(let i, let asserted, let at, let readAt):
            return .edge(input: inputs[i].name, level: asserted ? 1 : 0, monoNs: at.nanoseconds,
                         readLatencyUs: (readAt - at).value / 1000, wall: now)
        case .decision(let i, let d):
            return .decision(.init(pressed: d.pressed, input: inputs[i].name, firstEdgeMonoNs: d.firstEdge.nanoseconds,
                                   decidedMonoNs: d.decidedAt.nanoseconds, edges: d.edges, bounceMs: d.bounce.milliseconds,
                                   firstEdgeWall: clock.wallTime(of: d.firstEdge).rfc3339, wall: now))
        case .trouble(let i, let cause, let cleared):
            return .trouble(input: inputs[i].name, cause: cause, cleared: cleared, wall: now)
        case .openLoop(let i, _, let cleared):
            return .openLoop(input: inputs[i].name, cleared: cleared, wall: now)
        }
    }

    func watch(_ names: [String], stream: ControlStream) -> ControlResult {
        let known = loop.table.active.map { loop.table[$0].name }
        let unknown = names.filter { !known.contains($0) }
        if !unknown.isEmpty { return .failure("no input named \(unknown.joined(separator: ", ")); inputs: \(known.joined(separator: ", "))") }
        let sub = hub.subscribe()
        defer { hub.unsubscribe(sub) }
        stream.event(.watching(inputs: names.isEmpty ? known : names))
        var reportedDrops = 0
        while !stream.clientGone {
            for e in sub.next(timeout: 0.5) {
                if let input = e.input, !names.isEmpty, !names.contains(input) { continue }
                if !stream.event(e) { return .failure("client gone") }
            }
            if sub.dropped > reportedDrops {
                stream.event(.dropped(count: sub.dropped - reportedDrops))
                reportedDrops = sub.dropped
            }
        }
        return .success(["watched": true])
    }

    // MARK: test

    func test(_ args: [String: Any], stream: ControlStream) -> ControlResult {
        guard let name = args["input"] as? String, let index = loop.table.index(named: name) else {
            let known = loop.table.active.map { loop.table[$0].name }
            return .failure("no input named \(args["input"] ?? "(none)"); inputs: \(known.joined(separator: ", "))")
        }
        guard let timeout = ControlArguments.seconds(args["timeout_s"], default: 30) else { return .failure(ControlArguments.secondsProblem) }
        guard testing.mutate({ $0.insert(index).inserted }) else { return .failure("input \(name) is already being tested") }
        defer { testing.mutate { _ = $0.remove(index) } }
        var warnings: [String] = []
        let before = loop.snapshot()[index]
        if let t = before.trouble { return .failure("input \(name) is in trouble: \(t); fix that first") }
        if before.pressed { warnings.append("the input reads pressed at rest: inverted polarity (contact type or active_low) or a stuck line") }
        let sub = hub.subscribe()
        writer.setTestMode(input: index, on: true)
        defer {
            writer.setTestMode(input: index, on: false)
            hub.unsubscribe(sub)
        }
        let startedAt = clock.wallNow()
        stream.event(.ready(input: name, message: "press and release \(name) now (test mode: the alert is sent as a test)", timeoutSeconds: timeout))
        var edges = 0
        var press: ControlEvent.Decision?
        var release: ControlEvent.Decision?
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && release == nil && !stream.clientGone {
            for e in sub.next(timeout: 0.2) where e.input == name {
                stream.event(e)
                switch e {
                case .edge: edges += 1
                case .decision(let d) where d.pressed: press = d
                case .decision(let d): if press != nil { release = d }
                default: break
                }
            }
        }
        if edges == 0 {
            return .failure("no edges from \(name) within \(Int(timeout)) s: check the wiring, the pull-up/down (bias) and the chip/line or device in the configuration",
                            ["input": name, "edges": 0, "warnings": warnings])
        }
        if press == nil { warnings.append("edges seen but no press decided: contact too short for the debounce mode, or polarity inverted") }
        if press != nil && release == nil { warnings.append("pressed but not released within \(Int(timeout)) s: stuck button or line") }
        var result: [String: Any] = ["input": name, "edges": edges, "warnings": warnings]
        if let press {
            result["bounce_ms"] = press.bounceMs
            result["press_first_edge"] = press.firstEdgeWall
            result["decided_after_ms"] = Double(press.decidedMonoNs.saturatingSubtract(press.firstEdgeMonoNs)) / 1e6
        }
        guard press != nil else { return .failure("no press decided", result) }
        guard let alert = tracker.waitForAccepted(timeout: 5, where: { $0.input == name && $0.test && $0.acceptedAt >= startedAt && $0.restores == nil }) else {
            return .failure("the test press was not accepted into the outbox", result)
        }
        result["alert_id"] = alert.id
        let destinations = config.destinationNames
        let got = tracker.waitForDelivery(id: alert.id, destinations: destinations, timeout: 15)
        result["deliveries"] = destinations.map { d -> [String: Any] in
            if let at = got[d] { return ["destination": d, "acknowledged": true, "latency_ms": Double((at - alert.occurredAt).value) / 1e6] }
            return ["destination": d, "acknowledged": false, "error": lastError(d) as Any]
        }
        let allAcked = destinations.allSatisfy { got[$0] != nil }
        return allAcked ? .success(result) : .failure("the receiver did not acknowledge the test alert", result)
    }

    func lastError(_ destination: String) -> String? {
        self.destinations.first { $0.name == destination }?.status.lastError
    }

    // MARK: key rotation

    /// Switches signing to `key_file.next`: the old key moves to
    /// `key_file.old`, the next one takes its place, and every uplink signs
    /// with it from the next request on.
    func rotateKey() -> ControlResult {
        let path = config.keyFile, next = path + ".next", old = path + ".old"
        let nextKey: SigningKey
        do { nextKey = try KeyFile.load(next) }
        catch { return .failure("no next key to switch to (\(error)); run `panicctl keys rotate` first") }
        let previous = signer.current.key.publicKey
        if rename(path, old) != 0 { return .failure("cannot move \(path) to \(old): \(String(cString: strerror(errno)))") }
        if rename(next, path) != 0 {
            _ = rename(old, path)
            return .failure("cannot move \(next) to \(path): \(String(cString: strerror(errno)))")
        }
        let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
        signer.current = MessageSigner(key: nextKey)
        return .success(["previous_key_id": previous.keyID, "key_id": nextKey.publicKey.keyID, "public_key": nextKey.publicKey.base64])
    }

    // MARK: send-test

    func sendTest(timeout: Double) -> ControlResult {
        let token = AlertIDGenerator().next(at: clock.wallNow())
        let now = clock.wallNow()
        writer.submit(.draft(AlertDraft(kind: .test, occurredAt: now, clockSynchronized: ClockDiscipline.current().synchronized,
                                        test: true, detail: "panicctl send-test \(token)")))
        guard let alert = tracker.waitForAccepted(timeout: 5, where: { $0.detail == "panicctl send-test \(token)" }) else {
            return .failure("the test alert was not accepted into the outbox")
        }
        for d in self.destinations { d.alertsAccepted(urgent: true) }
        let destinations = config.destinationNames
        let got = tracker.waitForDelivery(id: alert.id, destinations: destinations, timeout: timeout)
        let rows: [[String: Any]] = destinations.map { d in
            if let at = got[d] { return ["destination": d, "acknowledged": true, "latency_ms": Double((at - alert.acceptedAt).value) / 1e6] }
            return ["destination": d, "acknowledged": false, "error": lastError(d) ?? "no answer within \(Int(timeout)) s"]
        }
        let result: [String: Any] = ["alert_id": alert.id, "sequence": alert.sequence, "destinations": rows]
        return destinations.allSatisfy { got[$0] != nil } ? .success(result) : .failure("not every destination acknowledged", result)
    }
}
