import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDemo
import PanicDevCerts
import PanicGatewayKit
import PanicInputs
import PanicOutbox
import PanicPlatform
import PanicReceiverKit
import PanicSigning
import ServiceLifecycle

/// `make bench`: durable-accept latency against a bare fsync, burst
/// throughput through the real writer, press-to-acknowledgement over
/// loopback TLS, the daemon's resident memory, the receiver's intake on
/// SQLite and PostgreSQL (`ReceiverBench`) and a backlog's drain (`DrainBench`). Prints percentiles and writes
/// .build/bench-results.json.
@main
struct PanicBench {
    static func main() async throws {
        let dir = NSTemporaryDirectory() + "/panic-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var results: [String: Any] = ["machine": machineDescription(), "command": "make bench", "date": Date().description]
        print("panic-gateway benchmarks — \(machineDescription().sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))\n")

        // `panic-bench receiver`: only the receiver's figures.
        let receiverOnly = CommandLine.arguments.dropFirst().first == "receiver"
        if CommandLine.arguments.dropFirst().first == "drain" {
            results["backlog_drain"] = try await DrainBench(dir: dir).run()
            try writeResults(results)
            return
        }
        if receiverOnly {
            results["receiver"] = try await ReceiverBench(dir: dir).run()
            try writeResults(results)
            return
        }
        let fsync = try fsyncBaseline(dir: dir, n: 500)
        print("bare write+fdatasync on the state filesystem   \(fsync.line)")
        let accept = try acceptLatency(dir: dir, n: 1000)
        print("durable accept, one alert per commit           \(accept.line)")
        print(String(format: "  target: p99 within one fsync + 1 ms (%.3f ms): %@", fsync.p99 + 1, accept.p99 <= fsync.p99 + 1 ? "met" : "NOT met"))
        let burst = try await burstThroughput(dir: dir, n: 50_000)
        print(String(format: "burst through the writer thread               %.0f alerts/s (%d alerts, %.0f ms, %d commits)", burst.rate, burst.n, burst.ms, burst.commits))
        print("  target: more than 10,000 alerts/s: \(burst.rate > 10_000 ? "met" : "NOT met")")
        let e2e = try await pressToAck(dir: dir, presses: 150)
        print("press → receiver acknowledgement, TLS loopback \(e2e.line)")
        print("  target: p99 under 20 ms: \(e2e.p99 < 20 ? "met" : "NOT met")")
        let memory = try await daemonMemory(dir: dir)
        let rss = memory["VmHWM"] ?? -1
        print(String(format: "daemon resident memory after 40 presses: VmHWM %.1f MiB = anonymous %.1f MiB + file-backed %.1f MiB (binary and shared libraries)",
                     rss, memory["RssAnon"] ?? -1, memory["RssFile"] ?? -1))
        print("  target: under 30 MB resident: \(rss * 1.048576 < 30 ? "met" : "NOT met")")

        results["receiver"] = try await ReceiverBench(dir: dir).run()
        results["backlog_drain"] = try await DrainBench(dir: dir).run()

        results["fsync_ms"] = encode(fsync)
        results["accept_ms"] = encode(accept)
        results["burst"] = ["alerts": burst.n, "ms": burst.ms, "alerts_per_s": burst.rate, "commits": burst.commits]
        results["press_to_ack_ms"] = encode(e2e)
        results["daemon_memory_mib"] = memory
        try writeResults(results)
    }

    static func writeResults(_ results: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
        try? FileManager.default.createDirectory(atPath: ".build", withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: ".build/bench-results.json"))
        print("\nwritten: .build/bench-results.json")
    }

    static func encode(_ s: Summary) -> Any {
        (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(s))) ?? [:]
    }

    static func fsyncBaseline(dir: String, n: Int) throws -> Summary {
        let fd = open(dir + "/fsync.bin", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        var samples: [Double] = []
        var byte: UInt8 = 1
        for i in 0..<n {
            let t = monotonicMs()
            _ = pwrite(fd, &byte, 1, off_t(i % 4096))
            _ = fdatasync(fd)
            samples.append(monotonicMs() - t)
        }
        return Summary(samples)
    }

    static func draft(_ kind: AlertKind = .panic) -> AlertDraft {
        AlertDraft(kind: kind, input: "bench", zone: 1, area: 1, occurredAt: SystemClock().wallNow(), clockSynchronized: false)
    }

    static func acceptLatency(dir: String, n: Int) throws -> Summary {
        let outbox = try Outbox(path: dir + "/accept.db", destinations: ["central"])
        let clock = SystemClock()
        var samples: [Double] = []
        for _ in 0..<n {
            let t = monotonicMs()
            _ = try outbox.accept([draft()], gatewayID: "bench", site: "bench", at: clock.wallNow())
            samples.append(monotonicMs() - t)
        }
        return Summary(samples)
    }

    static func burstThroughput(dir: String, n: Int) async throws -> (n: Int, ms: Double, rate: Double, commits: Int) {
        let outbox = try Outbox(path: dir + "/burst.db", destinations: ["central"], maximumTelemetry: 1_000_000)
        let count = Locked(0), commits = Locked(0)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let writer = AlertWriter(outbox: outbox, inputs: InputTable([]), gatewayID: "bench", site: "bench", clock: SystemClock(), logger: logger) { accepted in
            count.mutate { $0 += accepted.count }
            commits.mutate { $0 += 1 }
        }
        writer.start()
        let t = monotonicMs()
        for _ in 0..<n { writer.submit(.draft(draft())) }
        while count.value < n { try await Task.sleep(for: .milliseconds(1)) }
        let ms = monotonicMs() - t
        writer.stop()
        return (n, ms, Double(n) / (ms / 1000), commits.value)
    }

    static func pressToAck(dir: String, presses: Int) async throws -> Summary {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let certs = try DevCertificates.make()
        let files = try certs.write(to: dir)
        let key = SigningKey.generate()
        try KeyFile.create(key, at: dir + "/gw.key")
        let port = Locked(0)
        let receiver = try await Demo.startReceiver(ReceiverConfig(
            listenHost: "127.0.0.1", listenPort: 0, database: dir + "/receiver.db", tlsCertificate: files.certificate,
            tlsKey: files.key, gateways: [.init(id: "bench", publicKeys: [key.publicKey.base64])]), logger: logger, port: port)

        let config = try GatewayConfig.parse("""
            gateway_id = "bench"
            site = "bench"
            state_dir = "\(dir)/state"
            key_file = "\(dir)/gw.key"
            [[inputs]]
            name = "b"
            kind = "panic"
            zone = 1
            debounce = { mode = "immediate", window_ms = 10 }
            source = { type = "simulated" }
            [[uplinks]]
            name = "central"
            url = "https://127.0.0.1:\(port.value)"
            ca_file = "\(files.ca)"
            """, file: "bench.toml")
        let button = try SimulatedButton(name: "b")
        let clock = SystemClock()
        let latencies = Locked<[Double]>([])
        let ready = Locked(false)
        let gateway = try Gateway(
            config: config, key: key, clock: clock, logger: logger,
            sources: ["b": PipeEdgeSource(name: "b", fd: button.readFD, clock: clock, logger: logger)],
            enableControl: false,
            observer: GatewayObserver(delivered: { _, pending, at in
                guard let alert = try? WireFormat.decode(Alert.self, from: pending.body), alert.kind == .panic else { return }
                latencies.mutate { $0.append(Double((at - alert.occurredAt).value) / 1e6) }
            }, ready: { ready.value = true }))
        let group = ServiceGroup(services: gateway.services, logger: logger)
        let task = Task { try await group.run() }
        while !ready.value { try await Task.sleep(for: .milliseconds(5)) }
        // Warm the connection so the figure is the steady state, as on site.
        button.press(bounceGapsMs: [])
        try await Task.sleep(for: .milliseconds(60))
        button.release(bounceGapsMs: [])
        try await Task.sleep(for: .milliseconds(200))
        latencies.value = []
        for _ in 0..<presses {
            button.press(bounceGapsMs: [0.2, 0.3])
            try await Task.sleep(for: .milliseconds(40))
            button.release(bounceGapsMs: [])
            try await Task.sleep(for: .milliseconds(40))
        }
        let deadline = Date().addingTimeInterval(20)
        while latencies.value.count < presses && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        await receiver.stop()
        return Summary(latencies.value)
    }

    /// Runs the real daemon binary beside this one and reads its peak RSS.
    static func daemonMemory(dir: String) async throws -> [String: Double] {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("panic-gateway").path
        let fifo = dir + "/rss.fifo"
        try """
            gateway_id = "rss"
            site = "bench"
            state_dir = "\(dir)/rss-state"
            key_file = "\(dir)/rss.key"
            [[inputs]]
            name = "b"
            kind = "panic"
            zone = 1
            source = { type = "simulated", fifo = "\(fifo)" }
            [[uplinks]]
            name = "central"
            url = "http://127.0.0.1:9"
            heartbeat_interval_s = 1
            """.write(toFile: dir + "/rss.toml", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["run", "--config", dir + "/rss.toml", "--log-level", "critical"]
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        try await Task.sleep(for: .seconds(1))
        if let fd = Optional(open(fifo, O_WRONLY | O_NONBLOCK)), fd >= 0 {
            for _ in 0..<40 {
                _ = "1\n".withCString { write(fd, $0, 2) }
                try await Task.sleep(for: .milliseconds(30))
                _ = "0\n".withCString { write(fd, $0, 2) }
                try await Task.sleep(for: .milliseconds(30))
            }
            close(fd)
        }
        try await Task.sleep(for: .seconds(1))
        let status = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8)) ?? ""
        var out: [String: Double] = [:]
        for field in ["VmHWM", "VmRSS", "RssAnon", "RssFile"] {
            let kb = status.split(separator: "\n").first { $0.hasPrefix(field + ":") }?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? -1
            out[field] = kb / 1024
        }
        return out
    }
}
