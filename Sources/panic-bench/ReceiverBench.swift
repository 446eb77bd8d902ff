import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDevCerts
import PanicDevPostgres
import PanicReceiverKit
import PostgresNIO

/// Receiver intake: verified, durably stored alerts per second from many
/// concurrent gateway connections into one receiver on SQLite, one replica
/// on PostgreSQL and three replicas on one PostgreSQL; beside, in the same
/// run, the HTTP/TLS ceiling (GET /v1/health on the same connections) and
/// the bare commit rate of the same PostgreSQL; and one alert at a time on
/// each engine, whose difference is what a PostgreSQL commit adds to the
/// press → 2xx path.
struct ReceiverBench {
    static let gatewayCount = 64
    static let alertsPerGateway = 150
    static let sequentialAlerts = 300

    /// One intake run's figures.
    struct Intake {
        var label: String
        var load: LoadResult
        var stored: Int
        var expected: Int
        var cpu: [String: Double]
        var sequential: LoadResult?

        var cpuLine: String {
            let total = cpu.values.reduce(0, +)
            let parts = cpu.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f", $0.key, $0.value) }.joined(separator: ", ")
            return String(format: "CPU s: %@ (%.1f of %.1f available on %d cores)", parts, total,
                          load.seconds * Double(ProcessInfo.processInfo.activeProcessorCount), ProcessInfo.processInfo.activeProcessorCount)
        }

        var json: [String: Any] {
            var out: [String: Any] = [
                "alerts_per_s": load.rate, "alerts": load.requests, "seconds": load.seconds, "statuses": load.statusLine,
                "latency_ms": PanicBench.encode(load.summary), "stored": stored, "expected": expected, "cpu_s": cpu,
            ]
            if let sequential { out["one_at_a_time_ms"] = PanicBench.encode(sequential.summary) }
            return out
        }
    }

    let dir: String
    let tls: (ca: String, certificate: String, key: String)
    let gateways: [BenchGateway]
    let generator: LoadGenerator
    let ids = AlertIDGenerator()
    let logger: Logger

    init(dir: String) throws {
        self.dir = dir + "/receiver"
        try FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)
        tls = try DevCertificates.make().write(to: self.dir)
        gateways = (0..<Self.gatewayCount).map { BenchGateway(id: String(format: "bench-gw-%02d", $0)) }
        generator = try LoadGenerator(caFile: tls.ca, connections: Self.gatewayCount * 2)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        self.logger = logger
    }

    /// Runs every receiver figure and prints it; the JSON for the results file.
    func run() async throws -> [String: Any] {
        let pg = try DevPostgresCluster()
        defer { pg.destroy() }
        var results: [String: Any] = [:]
        print("\nreceiver intake: \(Self.gatewayCount) gateways at once, \(Self.alertsPerGateway) alerts each, over TLS with keep-alive,")
        print("each alert's RFC 9421 signature verified and committed before the 201; the load generator runs on the same cores\n")

        let commit = try await bareCommits(pg)
        print("baseline: bare INSERT+COMMIT on the same PostgreSQL, one at a time  \(commit.single.summary.line)")
        print(String(format: "baseline: bare INSERT+COMMIT, 20 connections (the receiver's pool)  %.0f commits/s", commit.concurrent.rate))
        results["postgres_bare_commit"] = ["one_at_a_time_ms": PanicBench.encode(commit.single.summary), "commits_per_s_20_connections": commit.concurrent.rate]

        let sqlite = try await intake("sqlite", engine: .sqlite(path: dir + "/receiver.db"), replicas: 1, pg: pg, healthBaseline: true)
        let one = try await intake("postgres-1", engine: .postgres(port: pg.port, database: "bench_one"), replicas: 1, pg: pg)
        let three = try await intake("postgres-3", engine: .postgres(port: pg.port, database: "bench_three"), replicas: 3, pg: pg)
        if let health = sqlite.health {
            print(String(format: "baseline: GET /v1/health on the same connections (HTTP+TLS ceiling)  %.0f requests/s  %@", health.rate, health.summary.line))
            results["health_baseline"] = ["requests_per_s": health.rate, "latency_ms": PanicBench.encode(health.summary)]
        }
        for run in [sqlite.intake, one.intake, three.intake] {
            let name = run.label.padding(toLength: 12, withPad: " ", startingAt: 0)
            print(String(format: "%@ %6.0f alerts/s  %@  [%@]  stored %d of %d", name, run.load.rate, run.load.summary.line,
                         run.load.statusLine, run.stored, run.expected))
            print("    \(run.cpuLine)")
            results["intake_" + run.label] = run.json
        }
        let pgRate = one.intake.load.rate
        print("  target: ≥ 5,000 verified, stored alerts/s into one PostgreSQL replica: \(pgRate >= 5_000 ? "met" : "NOT met")")
        let allStored = [sqlite.intake, one.intake, three.intake].allSatisfy { $0.stored == $0.expected && $0.load.statuses[201] == $0.load.requests }
        print("  every alert answered 201 and stored exactly once: \(allStored ? "yes" : "NO")")

        if let s = sqlite.intake.sequential?.summary, let p = one.intake.sequential?.summary {
            print("one alert at a time (one gateway, \(Self.sequentialAlerts) alerts, signed POST → 201):")
            print("    SQLite                 \(s.line)")
            print("    PostgreSQL             \(p.line)")
            print(String(format: "    added by the PostgreSQL commit: p50 %+.3f ms, p99 %+.3f ms", p.p50 - s.p50, p.p99 - s.p99))
            results["one_at_a_time_added_by_postgres_ms"] = ["p50": p.p50 - s.p50, "p99": p.p99 - s.p99]
        }
        await generator.shutdown()
        return results
    }

    /// One intake run on fresh storage: starts the receivers, warms every
    /// connection with one alert per gateway, then times the load; stops the
    /// receivers and counts what was stored.
    func intake(_ label: String, engine: BenchEngine, replicas: Int, pg: DevPostgresCluster,
                healthBaseline: Bool = false) async throws -> (intake: Intake, health: LoadResult?) {
        if case .postgres(_, let database) = engine { try pg.createDatabase(database) }
        var receivers: [BenchReceiver] = []
        for i in 0..<replicas {
            receivers.append(try await BenchReceiver(dir: dir, name: "\(label)-\(i)", engine: engine, tls: (tls.certificate, tls.key), gateways: gateways))
        }
        let base = receivers.map { "https://127.0.0.1:\($0.port)" }
        func url(_ gateway: Int) -> String { base[gateway % replicas] + "/v1/alerts" }

        let warm = try gateways.enumerated().map { try $0.element.signedAlerts(1...1, url: url($0.offset), ids: ids) }
        let warmed = await generator.run(warm)
        var health: LoadResult?
        if healthBaseline {
            health = await generator.run(gateways.indices.map { g in
                Array(repeating: BenchRequest(url: base[g % replicas] + "/v1/health", signed: nil), count: Self.alertsPerGateway)
            })
        }
        let last = Int64(Self.alertsPerGateway + 1)
        let lanes = try gateways.enumerated().map { try $0.element.signedAlerts(2...last, url: url($0.offset), ids: ids) }
        let before = cpu(receivers, pg: pg, engine: engine)
        let load = await generator.run(lanes)
        let after = cpu(receivers, pg: pg, engine: engine)
        var sequential: LoadResult?
        if replicas == 1 {
            let one = try gateways[0].signedAlerts(last + 1...last + Int64(Self.sequentialAlerts), url: url(0), ids: ids)
            sequential = await generator.run([one])
        }
        for r in receivers { await r.stop() }
        let stored = try await countStored(engine)
        let expected = warmed.requests + load.requests + (sequential?.requests ?? 0)
        return (Intake(label: label, load: load, stored: stored, expected: expected,
                       cpu: after.merging(before) { $0 - $1 }, sequential: sequential), health)
    }

    func cpu(_ receivers: [BenchReceiver], pg: DevPostgresCluster, engine: BenchEngine) -> [String: Double] {
        var out = ["receiver": receivers.reduce(0) { $0 + $1.cpuSeconds }, "load generator": ownCPUSeconds()]
        if case .postgres = engine { out["postgres"] = postgresCPUSeconds(pg) }
        return out
    }

    func countStored(_ engine: BenchEngine) async throws -> Int {
        switch engine {
        case .sqlite(let path):
            return try await SQLiteReceiverStore(path: path).alerts().count
        case .postgres(let port, let database):
            let store = try PostgresReceiverStore(.init(host: "127.0.0.1", port: port, user: "panic", database: database), logger: logger)
            return try await store.withRunning { try await $0.alerts().count }
        }
    }

    /// The floor under PostgreSQL intake: single-row INSERTs, each its own
    /// committed transaction, one at a time and on 20 connections at once.
    func bareCommits(_ pg: DevPostgresCluster) async throws -> (single: LoadResult, concurrent: LoadResult) {
        try pg.createDatabase("bench_commit")
        var config = PostgresClient.Configuration(host: "127.0.0.1", port: pg.port, username: pg.user, password: nil, database: "bench_commit", tls: .disable)
        config.options.maximumConnections = 20
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query("CREATE TABLE commits (n bigint PRIMARY KEY, body text NOT NULL)", logger: logger)
            let body = String(repeating: "x", count: 400)
            var single: [Double] = []
            let t0 = monotonicMs()
            for n in 0..<Self.sequentialAlerts {
                let t = monotonicMs()
                try await client.query("INSERT INTO commits VALUES (\(n), \(body))", logger: logger)
                single.append(monotonicMs() - t)
            }
            let singleResult = LoadResult(seconds: (monotonicMs() - t0) / 1000, latenciesMs: single, statuses: [:])
            let t1 = monotonicMs()
            let lanes = try await withThrowingTaskGroup(of: [Double].self) { lanes in
                for lane in 0..<Self.gatewayCount {
                    lanes.addTask { [logger] in
                        var out: [Double] = []
                        for i in 0..<Self.alertsPerGateway {
                            let t = monotonicMs()
                            try await client.query("INSERT INTO commits VALUES (\(100_000 + lane * 10_000 + i), \(body))", logger: logger)
                            out.append(monotonicMs() - t)
                        }
                        return out
                    }
                }
                var all: [Double] = []
                for try await l in lanes { all += l }
                return all
            }
            return (singleResult, LoadResult(seconds: (monotonicMs() - t1) / 1000, latenciesMs: lanes, statuses: [:]))
        }
    }
}
