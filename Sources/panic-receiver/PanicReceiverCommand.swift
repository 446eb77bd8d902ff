import ArgumentParser
import Foundation
import Logging
import PanicConfig
import PanicConsole
import PanicCore
import PanicReceiverKit
import PanicSigning
import ServiceLifecycle

@main
struct PanicReceiverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panic-receiver",
        abstract: "Reference central receiver: verifies signed alerts, de-duplicates, stores, supervises gateways.",
        subcommands: [Serve.self, Migrate.self, Gateways.self, Operators.self, Incidents.self, Tail.self, Status.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve until SIGTERM or SIGINT.")

    @Option(name: .shortAndLong, help: "Configuration file.")
    var config: String = "/etc/panic-receiver/receiver.toml"

    @Option(help: "Log level.")
    var logLevel: String = "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { var h = StreamLogHandler.standardError(label: $0); h.logLevel = level; return h }
        let logger = Logger(label: "panic-receiver")
        let cfg: ReceiverConfig
        do { cfg = try ReceiverConfig.load(path: config) }
        catch { FileHandle.standardError.write(Data("\(error)\n".utf8)); throw ExitCode(2) }
        let server: ReceiverServer
        do { server = try ReceiverServer(config: cfg, logger: logger) }
        catch { FileHandle.standardError.write(Data("panic-receiver: \(error)\n".utf8)); throw ExitCode(1) }
        // A replica never serves against a schema it does not know; SQLite
        // was migrated as it opened (one process owns the file).
        if let settings = cfg.postgres {
            do {
                // A pool of its own: the server's runs once, in the service group.
                try await PostgresReceiverStore(settings, logger: toolLogger()).withRunning { try await $0.checkReady() }
            } catch {
                FileHandle.standardError.write(Data("panic-receiver: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        var console: OperatorConsole?
        if let settings = cfg.console {
            console = OperatorConsole(store: server.store, config: settings, secure: cfg.tlsCertificate != nil, drain: server.drain,
                                      clock: ReceiverClock(), logger: logger)
        }
        let theConsole = console
        var escalation: EscalationService?
        if let settings = cfg.console, let esc = settings.escalation, let store = console?.store {
            do {
                let (key, created) = try KeyFile.loadOrCreate(esc.keyFile)
                logger.notice(created ? "escalation key created" : "escalation key loaded", metadata: [
                    "key_file": "\(esc.keyFile)", "keyid": "\(key.publicKey.keyID)", "public_key": "\(key.publicKey.base64)"])
                escalation = EscalationService(store: store, console: settings, escalation: esc,
                                               sender: try SignedWebhookSender(key: key, webhooks: esc.webhooks), clock: ReceiverClock(), logger: logger)
            } catch {
                FileHandle.standardError.write(Data("panic-receiver: escalation: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        var services = try server.services(onListening: { port in
            logger.notice("listening", metadata: ["address": "\(cfg.listenHost):\(port)", "tls": "\(cfg.tlsCertificate != nil)", "console": "\(theConsole != nil)"])
            // One line on stdout, for scripts and tests that asked for port 0.
            emit("listening \(cfg.listenHost):\(port)")
        }, routes: { router in theConsole?.addRoutes(to: router) })
        if let escalation { services.append(escalation) }
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

struct DatabaseOption: ParsableArguments {
    @Option(help: "The receiver's SQLite database (ignored with --config).")
    var database: String = "/var/lib/panic-receiver/receiver.db"

    @Option(name: .shortAndLong, help: "The receiver's configuration: its database, SQLite or PostgreSQL.")
    var config: String?

    /// Opens the store and runs `body` with it (with PostgreSQL's pool running).
    /// `mustExist`: the views (`tail`, `status`) refuse an SQLite path with no
    /// file rather than create an empty database and show a quiet log — a
    /// mistyped path must not look like a night without alarms.
    func withStore<T: Sendable>(mustExist: Bool = false, _ body: @escaping @Sendable (any ReceiverStore) async throws -> T) async throws -> T {
        let logger = toolLogger()
        guard let config else {
            if mustExist { try Self.requireFile(database, from: "--database") }
            return try await body(try SQLiteReceiverStore(path: database))
        }
        let cfg: ReceiverConfig
        do { cfg = try ReceiverConfig.load(path: config) }
        catch { FileHandle.standardError.write(Data("\(error)\n".utf8)); throw ExitCode(2) }
        if mustExist, cfg.postgres == nil { try Self.requireFile(cfg.database, from: "`database` in \(config)") }
        let store = try ReceiverServer.openStore(cfg, logger: logger)
        if let pg = store as? PostgresReceiverStore { return try await pg.withRunning { try await body($0) } }
        return try await body(store)
    }

    static func requireFile(_ path: String, from origin: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        FileHandle.standardError.write(Data("panic-receiver: no database at \(path) (from \(origin)): the receiver creates it when it first starts; check the path\n".utf8))
        throw ExitCode(1)
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the database's schema to this build's version (PostgreSQL; SQLite migrates as it opens).")

    @Option(name: .shortAndLong, help: "The receiver's configuration.")
    var config: String = "/etc/panic-receiver/receiver.toml"

    @Option(help: "Stop at this version (to stage an upgrade; default: this build's).")
    var to: Int?

    func validate() throws {
        if let to, !(1...PostgresSchema.current).contains(to) { throw ValidationError("--to must be 1...\(PostgresSchema.current)") }
    }

    func run() async throws {
        let cfg: ReceiverConfig
        do { cfg = try ReceiverConfig.load(path: config) }
        catch { FileHandle.standardError.write(Data("\(error)\n".utf8)); throw ExitCode(2) }
        do {
            let store = try ReceiverServer.openStore(cfg, logger: toolLogger())
            if let pg = store as? PostgresReceiverStore {
                let target = self.to ?? PostgresSchema.current
                let (from, to) = try await pg.withRunning { try await $0.migrate(to: target) }
                emit(from == to ? "schema is current (version \(to))" : "migrated the PostgreSQL schema from version \(from) to \(to)")
            } else {
                emit("schema is current (SQLite version \(try await store.schemaVersion()))")
            }
        } catch {
            FileHandle.standardError.write(Data("panic-receiver migrate: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show alerts and supervision events as they arrive.")

    @OptionGroup var db: DatabaseOption

    @Flag(help: "Print what is stored and exit instead of following.")
    var noFollow = false

    @Option(help: "Start with the last N events.")
    var last: Int = 20

    func run() async throws {
        let last = self.last, noFollow = self.noFollow
        try await db.withStore(mustExist: true) { store in
            var reader = EventReader(cursor: max(0, try await store.lastEventNumber().saturatingSubtract(Int64(max(0, last)))))
            while true {
                // Page through: a backlog larger than one page is printed whole.
                for e in try await reader.next(from: store) { emit(Self.line(e)) }
                if noFollow { return }
                // A reader on the side of the store, not on the alarm path.
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// One event as a line. Everything in it came from a gateway: control
    /// characters are escaped, so no text can forge a line or drive the terminal.
    static func line(_ e: LoggedEvent) -> String {
        let type = e.type.uppercased().escapingControlCharacters
        return "\(e.at.rfc3339)  \(e.gatewayID.escapingControlCharacters)  \(type + String(repeating: " ", count: max(0, 9 - type.count)))  \(e.text.escapingControlCharacters)"
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List gateways: last heartbeat, last sequence, gaps, silence.")

    @OptionGroup var db: DatabaseOption

    @Flag(help: "JSON instead of a table.")
    var json = false

    func run() async throws {
        let rows = try await db.withStore(mustExist: true) { try await $0.status() }
        if json {
            let objects: [[String: Any]] = rows.map { r in
                [
                    "gateway_id": r.id, "silent": r.silent, "alerts": r.alerts,
                    "last_sequence": r.lastSequence as Any, "last_heartbeat": r.lastHeartbeat?.rfc3339 as Any,
                    "heartbeat_interval_s": r.heartbeatIntervalSeconds as Any, "queued_at_gateway": r.queuedAtGateway as Any,
                    "gaps": r.gaps.map { [$0.lowerBound, $0.upperBound] },
                ]
            }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("GATEWAY              STATE    LAST HEARTBEAT               LAST SEQ  ALERTS  QUEUED  GAPS")
        for r in rows {
            let gaps = r.gaps.isEmpty ? "none" : r.gaps.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
            print([
                r.id.escapingControlCharacters.padding(toLength: 20, withPad: " ", startingAt: 0),
                (r.silent ? "SILENT" : r.lastHeartbeat == nil ? "unknown" : "ok").padding(toLength: 8, withPad: " ", startingAt: 0),
                (r.lastHeartbeat?.rfc3339 ?? "never").padding(toLength: 28, withPad: " ", startingAt: 0),
                String(r.lastSequence ?? 0).padding(toLength: 9, withPad: " ", startingAt: 0),
                String(r.alerts).padding(toLength: 7, withPad: " ", startingAt: 0),
                String(r.queuedAtGateway ?? 0).padding(toLength: 7, withPad: " ", startingAt: 0),
                gaps,
            ].joined(separator: " "))
        }
    }
}

/// The command-line tools' logger: errors only (the pool's notices are for the daemon).
func toolLogger() -> Logger {
    var l = Logger(label: "panic-receiver")
    l.logLevel = .error
    return l
}

/// Writes a line to stdout unbuffered, so a pipe sees it at once.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
