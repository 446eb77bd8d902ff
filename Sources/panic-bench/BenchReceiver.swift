import Foundation
import PanicDevPostgres

/// Where a benchmark receiver keeps its alerts.
enum BenchEngine {
    case sqlite(path: String)
    case postgres(port: Int, database: String)

    var toml: String {
        switch self {
        case .sqlite(let path):
            return "database = \"\(path)\"\n"
        case .postgres:
            return ""
        }
    }

    var tables: String {
        switch self {
        case .sqlite:
            return ""
        case .postgres(let port, let database):
            return "[postgresql]\nhost = \"127.0.0.1\"\nport = \(port)\nuser = \"panic\"\ndatabase = \"\(database)\"\nmax_connections = 20\n"
        }
    }
}

/// The release `panic-receiver serve` as a process of its own, on TLS, with
/// the production log level; the bench reads its CPU time from /proc.
final class BenchReceiver {
    let port: Int
    let config: String
    private let process: Process

    static func binary() -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("panic-receiver").path
    }

    /// Writes the configuration for `engine` trusting `gateways`.
    static func writeConfig(dir: String, name: String, port: Int, engine: BenchEngine, tls: (certificate: String, key: String),
                            gateways: [BenchGateway]) throws -> String {
        var text = "listen = \"127.0.0.1:\(port)\"\n" + engine.toml
        text += "tls_cert = \"\(tls.certificate)\"\ntls_key = \"\(tls.key)\"\n"
        // The load is many gateways at full speed: lift the per-gateway
        // flood limit, which is not what is measured.
        text += "[limits]\nrate_per_gateway = 100000\nburst_per_gateway = 1000000\ndrain_s = 0\n"
        for g in gateways {
            text += "[[gateways]]\nid = \"\(g.id)\"\npublic_keys = [\"\(g.key.publicKey.base64)\"]\n"
        }
        text += engine.tables
        let path = "\(dir)/\(name).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `panic-receiver migrate` for a PostgreSQL configuration.
    static func migrate(config: String) throws {
        try runProcess([binary(), "migrate", "--config", config])
    }

    init(dir: String, name: String, engine: BenchEngine, tls: (certificate: String, key: String), gateways: [BenchGateway]) async throws {
        port = try DevPostgresCluster.freeLoopbackPort()
        config = try Self.writeConfig(dir: dir, name: name, port: port, engine: engine, tls: tls, gateways: gateways)
        if case .postgres = engine { try Self.migrate(config: config) }
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary())
        process.arguments = ["serve", "--config", config]
        let log = "\(dir)/\(name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        let deadline = monotonicMs() + 20_000
        while !loopbackPortAnswers(port) {
            guard process.isRunning, monotonicMs() < deadline else {
                throw BenchFailure("panic-receiver \(name) did not start listening on port \(port); its log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    var cpuSeconds: Double { processCPUSeconds(process.processIdentifier) }

    /// SIGTERM, and waits for the drain to end.
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = monotonicMs() + 15_000
        while process.isRunning, monotonicMs() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
