import ArgumentParser
import Foundation
import Logging
import PanicConfig
import PanicGatewayKit
import PanicSigning
import ServiceLifecycle

@main
struct PanicGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panic-gateway",
        abstract: "Reads panic buttons, keeps every alert on disk, delivers it signed to the central receiver.",
        subcommands: [Run.self, Demo.self, CheckConfig.self, Keygen.self],
        defaultSubcommand: Run.self)
}

/// Exit codes shared by the gateway's commands.
enum ExitCodes {
    static let configInvalid: Int32 = 2
    static let keyProblem: Int32 = 3
    static let startFailed: Int32 = 4
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon until SIGTERM or SIGINT.")

    @Option(name: .shortAndLong, help: "Configuration file.")
    var config: String = GatewayConfig.defaultPath

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        PriorityLogHandler.bootstrap(level: logLevel)
        let logger = Logger(label: "panic-gateway")
        let notifier = SystemdNotifier(logger: logger)
        let cfg: GatewayConfig
        do { cfg = try GatewayConfig.load(path: config) }
        catch {
            logger.critical("configuration refused:\n\(error)")
            notifier.status("configuration refused: \(config) (see the journal)")
            throw ExitCode(ExitCodes.configInvalid)
        }
        // The key lives in the state directory by default; on a first start
        // outside systemd (which would create it) nothing else has made it yet.
        try? FileManager.default.createDirectory(atPath: cfg.stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        let key: SigningKey
        do {
            let (k, created) = try KeyFile.loadOrCreate(cfg.keyFile)
            if created { logger.notice("generated a new gateway key", metadata: ["key.file": "\(cfg.keyFile)", "key.id": "\(k.publicKey.keyID)"]) }
            key = k
        } catch {
            logger.critical("\(error)")
            notifier.status("key file problem: \(cfg.keyFile) (see the journal)")
            throw ExitCode(ExitCodes.keyProblem)
        }
        let gateway: Gateway
        do {
            gateway = try Gateway(config: cfg, key: key, logger: logger, traceEdges: logLevel <= .debug, observer: GatewayObserver(ready: {
                logger.notice("running", metadata: ["gateway.id": "\(cfg.gatewayID)", "inputs": "\(cfg.inputs.count)", "uplinks": "\(cfg.uplinks.count + cfg.dc09Uplinks.count)"])
                notifier.ready(status: "running: \(cfg.inputs.count) input(s), \(cfg.uplinks.count + cfg.dc09Uplinks.count) uplink(s)")
            }))
        } catch {
            logger.critical("cannot start: \(error)")
            notifier.status("cannot start: \(error)")
            throw ExitCode(ExitCodes.startFailed)
        }
        var extra: [any Service] = []
        if let m = cfg.metricsListen {
            extra.append(MetricsService(registry: MetricsService.bootstrap(), host: m.host, port: m.port, outbox: gateway.outbox, loop: gateway.loop, logger: logger))
        }
        extra.append(Watchdog(
            settings: WatchdogSettings.from(environment: ProcessInfo.processInfo.environment),
            loop: gateway.loop, notifier: notifier, logger: logger))
        try await gateway.run(
            configPath: config, extraServices: extra,
            willReload: { notifier.reloading(status: "reloading \(config)") },
            onReload: { notifier.ready(status: Self.status(after: $0)) })
        logger.notice("stopped")
    }

    /// The `STATUS=` line after a reload (`systemctl status` shows it).
    static func status(after outcome: ReloadOutcome) -> String {
        switch outcome {
        case .unchanged: "running; reload: configuration unchanged"
        case .applied(let restart) where restart.isEmpty: "running; reload applied"
        case .applied(let restart): "running; reload applied, needs a restart for: \(restart.joined(separator: ", "))"
        case .refused: "running the previous configuration; reload refused (see the journal)"
        }
    }
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a receiver and a gateway on loopback, press simulated buttons, take the receiver offline, and show every alert arrive.",
        discussion: "The demo lives in the sibling program panic-gateway-demo, so the daemon itself does not carry a receiver and a certificate authority in memory.")

    @Flag(help: "End with one JSON object of the figures (pressed, verified, delivered_after_outage, lost, …).")
    var json = false

    @Option(help: "Seconds the receiver stays offline.")
    var outage: Double = 3

    func run() throws {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let sibling = me.deletingLastPathComponent().appendingPathComponent("panic-gateway-demo").path
        guard FileManager.default.isExecutableFile(atPath: sibling) else {
            FileHandle.standardError.write(Data("panic-gateway: the demo program \(sibling) is missing; build it with `swift build`\n".utf8))
            throw ExitCode(ExitCodes.startFailed)
        }
        var args = [sibling, "--outage", String(outage)]
        if json { args.append("--json") }
        let cargs = args.map { strdup($0) } + [nil]
        execv(sibling, cargs)
        FileHandle.standardError.write(Data("panic-gateway: cannot run \(sibling): \(String(cString: strerror(errno)))\n".utf8))
        throw ExitCode(ExitCodes.startFailed)
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration file; print every problem with file, line and key.")

    @Argument(help: "Configuration file.")
    var file: String = GatewayConfig.defaultPath

    @Flag(help: "Also print every key path the loader read (for the configuration reference's test).")
    var printKeys = false

    func run() throws {
        do {
            guard let data = FileManager.default.contents(atPath: file) else { _ = try GatewayConfig.load(path: file); return }
            let (cfg, keys) = try GatewayConfig.parseReportingKeys(bytes: [UInt8](data), file: file)
            print("\(file): OK — gateway \(cfg.gatewayID), \(cfg.inputs.count) input(s), \(cfg.destinationNames.count) uplink(s)")
            if printKeys { for k in keys.sorted() { print(k) } }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.configInvalid)
        }
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new Ed25519 private key (mode 0600) and print its public key for the receiver.")

    @Option(help: "Where to write the private key; never overwritten.")
    var out: String

    func run() throws {
        let key = SigningKey.generate()
        do { try KeyFile.create(key, at: out) }
        catch { FileHandle.standardError.write(Data("\(error)\n".utf8)); throw ExitCode(ExitCodes.keyProblem) }
        print("private key:  \(out) (mode 0600)")
        print("public key:   \(key.publicKey.base64)")
        print("key id:       \(key.publicKey.keyID)")
        print("fingerprint:  SHA256:\(key.publicKey.fingerprint)")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
