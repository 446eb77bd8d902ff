import Foundation
import Logging
import PanicConfig
import PanicConsole
import PanicCore
import PanicDemo
import PanicDevCerts
import PanicGatewayKit
import PanicInputs
import PanicPlatform
import PanicReceiverKit
import PanicSigning
import ServiceLifecycle
import Testing

/// Runs a receiver and a gateway in this process, on loopback, the same way
/// the executables build them.
final class Harness: @unchecked Sendable {
    let dir: String
    let key = SigningKey.generate()
    let logger: Logger
    var receiverGroup: ServiceGroup?
    var receiverTask: Task<Void, any Error>?
    var gatewayGroup: ServiceGroup?
    var gatewayTask: Task<Void, any Error>?
    var gateway: Gateway?
    let received = Locked<[Alert]>([])
    let rejected = Locked<[Int]>([])
    var port = 0
    /// The operator console, when the receiver was started with one.
    var console: OperatorConsole?

    init() throws {
        dir = NSTemporaryDirectory() + "/e2e-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var l = Logger(label: "test")
        l.logLevel = .critical
        logger = l
        try KeyFile.create(key, at: dir + "/gateway.key")
    }

    /// Starts the receiver; `certs` nil means plain HTTP on loopback.
    func startReceiver(certs: DevCertificates?, trust: [SigningKey]? = nil, port fixed: Int = 0, certDir: String = "rcv", clientCA: String? = nil,
                       limits: ReceiverConfig.Limits = .init(), console consoleConfig: ReceiverConfig.Console? = nil,
                       consoleClock: any GatewayClock = SystemClock()) async throws {
        var cert: String?, keyPath: String?
        if let certs {
            let d = dir + "/" + certDir
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            let files = try certs.write(to: d)
            cert = files.certificate
            keyPath = files.key
        }
        let keys = (trust ?? [key]).map { $0.publicKey.base64 }
        let config = ReceiverConfig(listenHost: "127.0.0.1", listenPort: fixed, database: dir + "/receiver.db",
                                    tlsCertificate: cert, tlsKey: keyPath, clientCA: clientCA, gateways: [.init(id: "gw-test", publicKeys: keys)], limits: limits)
        let received = self.received, rejected = self.rejected
        let server = try ReceiverServer(config: config, logger: logger) { event in
            switch event {
            case .alert(let a, _, let new): if new { received.mutate { $0.append(a) } }
            case .rejected(_, let status): rejected.mutate { $0.append(status) }
            case .heartbeat: break
            }
        }
        let bound = Locked(0)
        if let consoleConfig {
            let store = server.store
            console = OperatorConsole(store: store, config: consoleConfig, secure: cert != nil, drain: server.drain, clock: consoleClock, logger: logger)
        }
        let console = self.console
        let group = ServiceGroup(services: try server.services(onListening: { bound.value = $0 }, routes: { console?.addRoutes(to: $0) }), logger: logger)
        receiverGroup = group
        receiverTask = Task { try await group.run() }
        try await waitUntil("receiver listening") { bound.value != 0 }
        port = bound.value
    }

    func stopReceiver() async {
        await receiverGroup?.triggerGracefulShutdown()
        _ = try? await receiverTask?.value
    }

    /// Starts a gateway with one simulated panic button; returns the button.
    func startGateway(scheme: String = "https", caFile: String?, clientCertificate: (String, String)? = nil,
                      clock: any GatewayClock = SystemClock(), lampFile: String? = nil) async throws -> SimulatedButton {
        let toml = """
            gateway_id = "gw-test"
            site = "test"
            state_dir = "\(dir)/state"
            key_file = "\(dir)/gateway.key"
            [[inputs]]
            name = "btn"
            kind = "panic"
            zone = 7
            source = { type = "simulated" }
            \(lampFile.map { "lamp = { type = \"file\", path = \"\($0)\" }" } ?? "")
            [[uplinks]]
            name = "central"
            url = "\(scheme)://127.0.0.1:\(port)"
            \(caFile.map { "ca_file = \"\($0)\"" } ?? "")
            \(clientCertificate.map { "client_cert = \"\($0.0)\"\nclient_key = \"\($0.1)\"" } ?? "")
            backoff_initial_ms = 50
            backoff_max_ms = 300
            heartbeat_interval_s = 60
            """
        let config = try GatewayConfig.parse(toml, file: "test.toml")
        let button = try SimulatedButton(name: "btn")
        let ready = Locked(false)
        let gw = try Gateway(
            config: config, key: key, clock: clock, logger: logger,
            sources: ["btn": PipeEdgeSource(name: "btn", fd: button.readFD, clock: clock, logger: logger)],
            enableControl: false,
            observer: GatewayObserver(ready: { ready.value = true }))
        gateway = gw
        let group = ServiceGroup(services: gw.services, logger: logger)
        gatewayGroup = group
        gatewayTask = Task { try await group.run() }
        try await waitUntil("gateway ready") { ready.value }
        return button
    }

    func stopGateway() async {
        await gatewayGroup?.triggerGracefulShutdown()
        _ = try? await gatewayTask?.value
        gateway = nil
    }

    func pending() throws -> Int { try gateway?.outbox.summary().first?.pending ?? -1 }

    func tap(_ b: SimulatedButton) async throws {
        b.press(bounceGapsMs: [0.2, 0.3])
        try await Task.sleep(for: .milliseconds(60))
        b.release(bounceGapsMs: [])
    }
}

func waitUntil(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        if Date() > deadline {
            Issue.record("timed out after \(timeout) s waiting for \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
