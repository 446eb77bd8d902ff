import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDevCerts
import PanicGatewayKit
import PanicInputs
import PanicOutbox
import PanicPlatform
import PanicReceiverKit
import PanicSigning
import ServiceLifecycle

/// `panic-gateway demo`: the whole path on one machine. A receiver on
/// loopback with TLS from a throw-away CA, a gateway with a fresh key and a
/// temporary state directory, simulated buttons pressed with bounce, and the
/// receiver taken offline mid-run so alerts queue on disk.
public enum Demo {
    public struct Options: Sendable {
        public var outageSeconds: Double = 3
        public var print: @Sendable (String) -> Void = { Swift.print($0) }
        public var logLevel: Logger.Level = .error
        public init() {}
    }

    public static func run(_ options: Options) async throws -> DemoResult {
        let say = options.print
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var logger = Logger(label: "panic-gateway.demo")
        logger.logLevel = options.logLevel

        let certs = try DevCertificates.make(caName: "panic-gateway demo CA")
        let files = try certs.write(to: dir)
        let key = SigningKey.generate()
        try KeyFile.create(key, at: dir + "/gateway.key")

        // Receiver, online.
        let arrivals = Locked<[(Alert, WallTime, Bool)]>([])
        let offline = Locked(false)
        let receiverConfig = ReceiverConfig(
            listenHost: "127.0.0.1", listenPort: 0, database: dir + "/receiver.db",
            tlsCertificate: files.certificate, tlsKey: files.key, timeWindowSeconds: 300, silentAfterIntervals: 3,
            gateways: [.init(id: "demo-gw", publicKeys: [key.publicKey.base64])])
        let observer: @Sendable (ReceiverEvent) -> Void = { event in
            guard case .alert(let a, let at, let new) = event else { return }
            arrivals.mutate { $0.append((a, at, new)) }
            guard new else { return }
            let what = a.kind == .restore ? "restore(\(a.restores?.rawValue ?? "?"))" : a.kind.rawValue
            let latency = Double((at - a.occurredAt).value) / 1e6
            say(String(format: "  receiver verified #%-3lld %-16@ input=%-12@ zone=%-4@ press-to-receipt %8.1f ms",
                       a.sequence, what, a.input ?? "-", a.zone.map(String.init) ?? "-", latency))
        }
        let port = Locked(0)
        var receiver = try await startReceiver(receiverConfig, logger: logger, observer: observer, port: port)
        say("receiver listening on https://127.0.0.1:\(port.value) (TLS, demo CA)")

        // Gateway, from a TOML file like any other.
        let toml = """
            gateway_id = "demo-gw"
            site = "Demo embassy, lobby"
            state_dir = "\(dir)/state"
            key_file = "\(dir)/gateway.key"

            [[inputs]]
            name = "lobby-panic"
            kind = "panic"
            zone = 501
            debounce = { mode = "immediate", window_ms = 20 }
            source = { type = "simulated" }

            [[inputs]]
            name = "desk-duress"
            kind = "duress"
            zone = 502
            debounce = { mode = "hold", window_ms = 20, hold_ms = 400 }
            source = { type = "simulated" }

            [[inputs]]
            name = "door-tamper"
            kind = "tamper"
            zone = 503
            contact = "normally-closed"
            debounce = { mode = "stable", window_ms = 30 }
            source = { type = "simulated" }

            [[uplinks]]
            name = "central"
            url = "https://127.0.0.1:\(port.value)"
            ca_file = "\(files.ca)"
            heartbeat_interval_s = 1
            backoff_initial_ms = 100
            backoff_max_ms = 1000
            """
        try toml.write(toFile: dir + "/gateway.toml", atomically: true, encoding: .utf8)
        let config = try GatewayConfig.load(path: dir + "/gateway.toml")
        let lobby = try SimulatedButton(name: "lobby-panic")
        let duress = try SimulatedButton(name: "desk-duress")
        let door = try SimulatedButton(name: "door-tamper", normallyClosed: true)
        let clock = SystemClock()
        let accepted = Locked<[Alert]>([])
        let ready = Locked(false)
        let gateway = try Gateway(
            config: config, key: try KeyFile.load(config.keyFile), clock: clock, logger: logger,
            sources: [
                "lobby-panic": PipeEdgeSource(name: "lobby-panic", fd: lobby.readFD, clock: clock, logger: logger),
                "desk-duress": PipeEdgeSource(name: "desk-duress", fd: duress.readFD, clock: clock, logger: logger),
                "door-tamper": PipeEdgeSource(name: "door-tamper", fd: door.readFD, clock: clock, logger: logger),
            ],
            enableControl: false,
            observer: GatewayObserver(accepted: { alerts in accepted.mutate { $0 += alerts } }, ready: { ready.value = true }))
        let gatewayGroup = ServiceGroup(services: gateway.services, logger: logger)
        let gatewayTask = Task { try await gatewayGroup.run() }
        door.release(bounceGapsMs: [])  // the tamper loop is closed: at rest
        try await until("gateway ready", timeout: 5) { ready.value }
        say("gateway demo-gw running: 3 simulated inputs, outbox \(config.outboxPath)")

        var pressed = 0
        func pressAndRelease(_ b: SimulatedButton, holdMs: Double, label: String) async {
            say("press \(label) (bounce train of 5 edges over 2 ms), hold \(Int(holdMs)) ms, release")
            b.press()
            pressed += 1
            try? await Task.sleep(for: .milliseconds(Int(holdMs)))
            b.release()
        }

        say("\n— online —")
        await pressAndRelease(lobby, holdMs: 300, label: "lobby-panic")
        await pressAndRelease(duress, holdMs: 700, label: "desk-duress (hold mode, 400 ms)")
        try await until("online alerts at the receiver", timeout: 10) { arrivals.value.filter(\.2).count >= 4 }
        let onlineLatencies = arrivals.value.filter(\.2).map { Double(($0.1 - $0.0.occurredAt).value) / 1e6 }.sorted()

        say("\n— receiver offline for \(options.outageSeconds) s —")
        offline.value = true
        await receiver.stop()
        let beforeOutage = Set(accepted.value.map(\.id))
        await pressAndRelease(lobby, holdMs: 200, label: "lobby-panic")
        say("open the tamper loop (cut wire), then close it")
        door.press(bounceGapsMs: [1, 1, 2, 1])
        pressed += 1
        try await Task.sleep(for: .milliseconds(300))
        door.release(bounceGapsMs: [])
        await pressAndRelease(lobby, holdMs: 150, label: "lobby-panic")
        try await until("outage alerts on disk", timeout: 5) { accepted.value.count >= 10 }
        let queued = try gateway.outbox.summary().first?.pending ?? 0
        say("  outbox: \(queued) alert(s) pending on disk for central")
        try await Task.sleep(for: .seconds(options.outageSeconds))

        say("\n— receiver back —")
        receiver = try await startReceiver(receiverConfig, logger: logger, observer: observer, port: port, fixedPort: port.value)
        let expected = Set(accepted.value.map(\.id))
        try await until("queued alerts delivered", timeout: 30) {
            expected.isSubset(of: Set(arrivals.value.map(\.0.id)))
        }
        try await Task.sleep(for: .milliseconds(200))

        await gatewayGroup.triggerGracefulShutdown()
        try? await gatewayTask.value
        await receiver.stop()

        let all = accepted.value
        let received = arrivals.value
        let receivedIDs = Set(received.map(\.0.id))
        let outageIDs = Set(all.map(\.id)).subtracting(beforeOutage)
        var inOrder = true
        for priority in [AlertPriority.alarm, .telemetry] {
            let seqs = received.filter { $0.2 && $0.0.priority == priority }.map(\.0.sequence)
            if seqs != seqs.sorted() { inOrder = false }
        }
        let result = DemoResult(
            pressed: pressed, accepted: all.count, verified: receivedIDs.count,
            deliveredAfterOutage: outageIDs.intersection(receivedIDs).count,
            lost: all.filter { !receivedIDs.contains($0.id) }.count, inOrder: inOrder,
            latencyP50Ms: onlineLatencies.isEmpty ? 0 : onlineLatencies[onlineLatencies.count / 2],
            latencyMaxMs: onlineLatencies.last ?? 0, outageSeconds: options.outageSeconds)
        say("""

            \(result.pressed) presses → \(result.accepted) alerts accepted durably, \(result.verified) verified at the receiver, \
            \(result.deliveredAfterOutage) delivered after the outage, \(result.lost) lost; order kept: \(result.inOrder)
            """)
        return result
    }

    /// A receiver running in this process; stop it with `stop()`.
    public struct RunningReceiver: Sendable {
        let group: ServiceGroup
        let task: Task<Void, any Error>
        public func triggerGracefulShutdown() async { await group.triggerGracefulShutdown() }
        /// Shuts down and waits until the server is gone.
        public func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    /// Starts the reference receiver in this process and waits until it
    /// listens; `port` receives the bound port. Shared with the benchmarks.
    public static func startReceiver(
        _ config: ReceiverConfig, logger: Logger, observer: @escaping @Sendable (ReceiverEvent) -> Void = { _ in },
        port: Locked<Int>, fixedPort: Int? = nil
    ) async throws -> RunningReceiver {
        var config = config
        if let fixedPort { config.listenPort = fixedPort }
        let server = try ReceiverServer(config: config, logger: logger, observer: observer)
        let listening = Locked(false)
        let group = ServiceGroup(services: try server.services { p in port.value = p; listening.value = true }, logger: logger)
        let task = Task { try await group.run() }
        try await until("receiver listening", timeout: 10) { listening.value }
        return RunningReceiver(group: group, task: task)
    }

    static func until(_ what: String, timeout: Double, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { throw DemoFailure(message: "timed out after \(timeout) s waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/panic-demo-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw DemoFailure(message: "cannot create a temporary directory") }
        return String(cString: p)
    }
}

public struct DemoFailure: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "demo failed: \(message)" }
}
