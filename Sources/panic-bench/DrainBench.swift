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

/// A backlog after an outage, drained: the real gateway (in this process)
/// with an outbox already holding the alerts, the release `panic-receiver`
/// on SQLite over loopback TLS. Timed from the gateway's start to the last
/// acknowledgement; beside it, in the same run, the same drain one alert
/// per request (`batch_max_alerts = 1`), which is how every alert went
/// before batches.
struct DrainBench {
    /// One drain's figures.
    struct Drain {
        var label: String
        var alerts: Int
        var seconds: Double
        var stored: Int
        var inOrder: Bool
        /// Time between acknowledgements of successive requests.
        var requestMs: Summary
        var requests: Int
        /// This process's resident memory (the gateway runs in it) when the
        /// drain began and at its highest while draining, MiB.
        var rssStartMiB: Double
        var rssPeakMiB: Double
        var queue: Queued
        /// CPU seconds while draining: this process (the gateway) and the receiver's.
        var cpuSeconds: (gateway: Double, receiver: Double)

        var rate: Double { Double(alerts) / seconds }
        var json: [String: Any] {
            ["alerts": alerts, "seconds": seconds, "alerts_per_s": rate, "stored": stored, "in_order": inOrder,
             "requests": requests, "request_cycle_ms": PanicBench.encode(requestMs),
             "rss_mib": ["after_queuing": rssStartMiB, "peak_while_queuing": queue.rssPeakMiB, "peak_while_draining": rssPeakMiB],
             "cpu_s": ["gateway": cpuSeconds.gateway, "receiver": cpuSeconds.receiver],
             "queued": ["alarms": queue.alarms, "telemetry": queue.telemetry, "telemetry_kept": queue.keptTelemetry,
                        "telemetry_evicted": queue.evicted, "all_alarms_kept": queue.alarmsKept, "seconds": queue.seconds]]
        }
    }

    let dir: String
    let logger: Logger

    init(dir: String) throws {
        self.dir = dir + "/drain"
        try FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        self.logger = logger
    }

    /// A month's outage: 10,000 alarms among 1,000,000 telemetry alerts,
    /// telemetry bounded at 90,000 — 100,000 alerts left to drain.
    func run() async throws -> [String: Any] {
        print("\nbacklog drain over loopback TLS into panic-receiver on SQLite (alarms first, then telemetry):")
        let single = try await drain("one per request", Backlog(alarms: 500, telemetry: 4_500, bound: 4_500), batch: 1)
        let batched = try await drain("batches of 100", Backlog(alarms: 10_000, telemetry: 1_000_000, bound: 90_000), batch: 100)
        for d in [single, batched] {
            print(String(format: "%@ %7.0f alerts/s  %d alerts in %.1f s, %d requests, request cycle %@  stored %d, in order: %@",
                         d.label.padding(toLength: 16, withPad: " ", startingAt: 0), d.rate, d.alerts, d.seconds, d.requests,
                         d.requestMs.line, d.stored, d.inOrder ? "yes" : "NO"))
            print(String(format: "    CPU while draining: gateway %.1f s, receiver %.1f s, of %.1f s × 2 cores",
                         d.cpuSeconds.gateway, d.cpuSeconds.receiver, d.seconds))
            print(String(format: "    queued first: %d alarms among %d telemetry alerts in %.1f s; telemetry kept %d, evicted %d; all alarms kept: %@",
                         d.queue.alarms, d.queue.telemetry, d.queue.seconds, d.queue.keptTelemetry, d.queue.evicted, d.queue.alarmsKept ? "yes" : "NO"))
            print(String(format: "    resident memory of the process the gateway runs in: %.1f MiB after queuing (%.1f at most while queuing), at most %.1f MiB while draining (+%.1f)",
                         d.rssStartMiB, d.queue.rssPeakMiB, d.rssPeakMiB, d.rssPeakMiB - d.rssStartMiB))
        }
        let total = batched.queue.alarms + batched.queue.keptTelemetry
        print(String(format: "  target: backlog of %d alerts drained at ≥ 5,000 alerts/s, in order: %@ (%.1f× one per request)", total,
                     batched.rate >= 5_000 && batched.inOrder && batched.stored == total ? "met" : "NOT met", batched.rate / single.rate))
        return ["baseline_one_per_request": single.json, "batched": batched.json]
    }

    /// What an outage leaves: alarms spread evenly among telemetry, and the
    /// outbox's telemetry bound (`[outbox] max_telemetry`).
    struct Backlog {
        var alarms: Int
        var telemetry: Int
        var bound: Int
    }

    /// How the backlog was queued.
    struct Queued {
        var alarms = 0, telemetry = 0, keptTelemetry = 0, evicted = 0
        var alarmsKept = false
        var seconds = 0.0
        var rssPeakMiB = 0.0
    }

    /// Queues `backlog` in a fresh outbox, then starts a receiver and the
    /// gateway and waits for the outbox to empty.
    func drain(_ label: String, _ backlog: Backlog, batch: Int) async throws -> Drain {
        let run = dir + "/batch-\(batch)"
        try FileManager.default.createDirectory(atPath: run + "/state", withIntermediateDirectories: true)
        let gatewayID = "drain-\(batch)"
        let bench = BenchGateway(id: gatewayID)
        try KeyFile.create(bench.key, at: run + "/gw.key")
        let tls = try DevCertificates.make().write(to: run)

        // The outage's backlog, committed before anything runs, in
        // commits of 1,000 as a burst would be.
        var expected: (alarms: [Int64], telemetry: [Int64]) = ([], [])
        var queue = Queued(alarms: backlog.alarms, telemetry: backlog.telemetry)
        do {
            let outbox = try Outbox(path: run + "/state/outbox.db", destinations: ["central"], maximumTelemetry: backlog.bound)
            let now = SystemClock().wallNow()
            let total = backlog.alarms + backlog.telemetry
            let every = max(1, total / max(1, backlog.alarms))
            let t = monotonicMs()
            var queued = 0
            var peak = residentMiB()
            while queued < total {
                let n = min(1_000, total - queued)
                let drafts = (queued..<queued + n).map { i in
                    AlertDraft(kind: i % every == 0 && i / every < backlog.alarms ? .panic : .sensor, input: "b", zone: 1, occurredAt: now, clockSynchronized: true)
                }
                for a in try outbox.accept(drafts, gatewayID: gatewayID, site: "bench", at: now) {
                    if a.priority == .alarm { expected.alarms.append(a.sequence) } else { expected.telemetry.append(a.sequence) }
                }
                // Only the newest `bound` telemetry alerts stay; keep this list as small.
                if expected.telemetry.count > 2 * backlog.bound { expected.telemetry.removeFirst(expected.telemetry.count - backlog.bound) }
                queued += n
                if queued % 50_000 == 0 { peak = max(peak, residentMiB()) }
            }
            queue.seconds = (monotonicMs() - t) / 1000
            queue.rssPeakMiB = max(peak, residentMiB())
            // The oldest telemetry is evicted: what is left to drain.
            expected.telemetry = Array(expected.telemetry.suffix(backlog.bound))
            // Counted, not read: this process's memory is the gateway's figure.
            let pendingCount = try outbox.summary().first { $0.destination == "central" }?.pending ?? -1
            let alarmsFirst = try outbox.pending(destination: "central", limit: backlog.alarms + 1).prefix { $0.priority == .alarm }.map(\.sequence)
            queue.keptTelemetry = pendingCount - alarmsFirst.count
            queue.alarmsKept = alarmsFirst == expected.alarms && expected.alarms.count == backlog.alarms
            queue.evicted = Int(try outbox.evictedTelemetry())
        }
        let alerts = expected.alarms.count + expected.telemetry.count

        let receiver = try await BenchReceiver(dir: run, name: "receiver", engine: .sqlite(path: run + "/receiver.db"),
                                               tls: (tls.certificate, tls.key), gateways: [bench])
        let config = try GatewayConfig.parse("""
            gateway_id = "\(gatewayID)"
            site = "bench"
            state_dir = "\(run)/state"
            key_file = "\(run)/gw.key"
            [outbox]
            max_telemetry = \(backlog.bound)
            [[inputs]]
            name = "b"
            kind = "panic"
            zone = 1
            source = { type = "simulated" }
            [[uplinks]]
            name = "central"
            url = "https://127.0.0.1:\(receiver.port)"
            ca_file = "\(tls.ca)"
            batch_max_alerts = \(batch)
            """, file: "drain.toml")
        let button = try SimulatedButton(name: "b")
        let clock = SystemClock()
        var empty: (sequences: [Int64], at: [Double]) = ([], [])
        empty.sequences.reserveCapacity(alerts)
        empty.at.reserveCapacity(alerts)
        let delivered = Locked(empty)
        let gateway = try Gateway(
            config: config, key: bench.key, clock: clock, logger: logger,
            sources: ["b": PipeEdgeSource(name: "b", fd: button.readFD, clock: clock, logger: logger)],
            enableControl: false,
            observer: GatewayObserver(delivered: { _, pending, _ in
                let t = monotonicMs()
                delivered.mutate { $0.sequences.append(pending.sequence); $0.at.append(t) }
            }))
        let rssStart = residentMiB()
        let cpuBefore = (gateway: ownCPUSeconds(), receiver: receiver.cpuSeconds)
        var rssPeak = rssStart
        let t0 = monotonicMs()
        let group = ServiceGroup(services: gateway.services, logger: logger)
        let task = Task { try await group.run() }
        let deadline = t0 + 600_000
        var ticks = 0
        while delivered.value.sequences.count < alerts && monotonicMs() < deadline {
            try await Task.sleep(for: .milliseconds(5))
            ticks += 1
            if ticks % 20 == 0 { rssPeak = max(rssPeak, residentMiB()) }
        }
        let seconds = (monotonicMs() - t0) / 1000
        let cpu = (gateway: ownCPUSeconds() - cpuBefore.gateway, receiver: receiver.cpuSeconds - cpuBefore.receiver)
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        await receiver.stop()
        let stored = try await SQLiteReceiverStore(path: run + "/receiver.db").alerts().count
        try? FileManager.default.removeItem(atPath: run)

        let d = delivered.value
        // One request's alerts are acknowledged together: a gap between
        // successive acknowledgements is one request's cycle.
        var cycles: [Double] = []
        var last = t0
        for (i, t) in d.at.enumerated() where i == 0 || t - d.at[i - 1] > 0.05 {
            cycles.append(t - last)
            last = t
        }
        return Drain(label: label, alerts: d.sequences.count, seconds: seconds, stored: stored,
                     inOrder: d.sequences == expected.alarms + expected.telemetry, requestMs: Summary(cycles), requests: cycles.count,
                     rssStartMiB: rssStart, rssPeakMiB: rssPeak, queue: queue, cpuSeconds: cpu)
    }

    /// VmRSS of this process, MiB.
    func residentMiB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let kb = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? -1
        return kb / 1024
    }
}
