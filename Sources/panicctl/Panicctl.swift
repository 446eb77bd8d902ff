import ArgumentParser
import Foundation
import PanicConfig
import PanicCore
import PanicOutbox
import PanicSigning

/// The technician's CLI. This first version reads the configuration, the
/// key and the outbox directly; the daemon's control socket comes later.
@main
struct Panicctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panicctl",
        abstract: "Technician's tool for a panic-gateway box.",
        subcommands: [ConfigCommand.self, Queue.self, Keys.self])
}

struct ConfigFile: ParsableArguments {
    @Option(name: .shortAndLong, help: "The gateway's configuration.")
    var config: String = GatewayConfig.defaultPath

    func load() throws -> GatewayConfig {
        do { return try GatewayConfig.load(path: config) }
        catch { FileHandle.standardError.write(Data("\(error)\n".utf8)); throw ExitCode(2) }
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Configuration.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate the configuration (exit 2 if it is refused).")
        @Argument(help: "File to check.") var file: String = GatewayConfig.defaultPath
        func run() throws {
            var f = ConfigFile()
            f.config = file
            let cfg = try f.load()
            print("\(file): OK — gateway \(cfg.gatewayID), \(cfg.inputs.count) input(s), \(cfg.uplinks.count) uplink(s)")
        }
    }
}


struct Queue: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pending alerts per destination (alarms are never deleted here).", subcommands: [Show.self])

    @OptionGroup var file: ConfigFile

    func run() throws {
        let cfg = try file.load()
        let outbox = try Outbox(path: cfg.outboxPath, destinations: cfg.uplinks.map(\.name), maximumTelemetry: cfg.maximumTelemetry)
        let now = WallTime(nanosecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1e9))
        for s in try outbox.summary() {
            let age = s.oldestPendingAcceptedAt.map { String(format: "%.0f s", (now - $0).seconds) } ?? "-"
            print("\(s.destination): \(s.pending) pending (\(s.pendingAlarms) alarm), oldest \(age), \(s.delivered) delivered")
            for p in try outbox.pending(destination: s.destination, limit: 20) {
                print("  #\(p.sequence) \(p.kind.rawValue) \(p.id) attempts=\(p.attempts)\(p.lastError.map { " last error: \($0)" } ?? "")")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One alert, by sequence number or id.")
        @OptionGroup var file: ConfigFile
        @Argument var id: String
        func run() throws {
            let cfg = try file.load()
            let outbox = try Outbox(path: cfg.outboxPath, destinations: cfg.uplinks.map(\.name))
            guard let alert = try outbox.alert(matching: id) else { FileHandle.standardError.write(Data("no alert \(id)\n".utf8)); throw ExitCode(1) }
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(alert), as: UTF8.self))
        }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The gateway's signing key.", subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Public key, key id and fingerprint.")
        @OptionGroup var file: ConfigFile
        func run() throws {
            let cfg = try file.load()
            do {
                let key = try KeyFile.load(cfg.keyFile)
                print("public key:  \(key.publicKey.base64)\nkey id:      \(key.publicKey.keyID)\nfingerprint: SHA256:\(key.publicKey.fingerprint)")
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(3)
            }
        }
    }
}
