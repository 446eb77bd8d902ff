import ArgumentParser
import Foundation
import PanicConfig
import PanicCore

/// The technician's CLI: find devices, watch inputs, test a button end to
/// end, read the queue. Talks to the daemon over its control socket; the
/// hardware listing, configuration check, clock and keys work without it.
@main
struct Panicctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panicctl",
        abstract: "Technician's tool for a panic-gateway box.",
        discussion: """
            Exit codes: 0 ok, 1 a check failed (test not acknowledged, …), 2 configuration invalid,
            3 daemon not running, 4 permission denied on the control socket, 5 key problem.
            Every command takes --json for scripts.
            """,
        subcommands: [Status.self, Devices.self, Watch.self, TestInput.self, SendTest.self, Queue.self,
                      ConfigCommand.self, Keys.self, Clock.self, Doctor.self])
}

/// Where the daemon is: its configuration, or the socket directly.
struct DaemonOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The gateway's configuration (names the control socket).")
    var config: String = GatewayConfig.defaultPath

    @Option(help: "The control socket (overrides the configuration).")
    var socket: String?

    @Flag(help: "JSON for scripts instead of tables.")
    var json = false

    var socketPath: String {
        if let socket { return socket }
        return (try? GatewayConfig.load(path: config))?.controlSocket ?? GatewayConfig.defaultControlSocket
    }

    /// Calls the daemon; exits with the right code when it cannot.
    func call(_ command: String, args: [String: Any] = [:], onEvent: ([String: Any]) -> Void = { _ in }) throws -> [String: Any] {
        do {
            return try ControlClient(path: socketPath).call(command, args: args, onEvent: onEvent)
        } catch let e as ClientError {
            FileHandle.standardError.write(Data("panicctl: \(e.message)\n".utf8))
            throw ExitCode(e.code)
        }
    }

    /// Prints the daemon's error and exits 1 when a reply is not ok.
    func check(_ reply: [String: Any]) throws -> [String: Any] {
        if reply["ok"] as? Bool == true { return reply["result"] as? [String: Any] ?? [:] }
        if json { print(Output.json(reply)) }
        FileHandle.standardError.write(Data("panicctl: \(reply["error"] as? String ?? "failed")\n".utf8))
        throw ExitCode(Exit.checkFailed)
    }
}

struct ConfigFile: ParsableArguments {
    @Option(name: .shortAndLong, help: "The gateway's configuration.")
    var config: String = GatewayConfig.defaultPath

    func load() throws -> GatewayConfig {
        do { return try GatewayConfig.load(path: config) }
        catch { FileHandle.standardError.write(Data("\(error)\n".utf8)); throw ExitCode(Exit.configInvalid) }
    }
}

/// A JSON value as table text: integers without a fraction, others to 0.1.
func text(_ v: Any?) -> String {
    switch v {
    case nil, is NSNull: return "-"
    case let s as String: return s
    case let b as Bool where "\(type(of: v!))".contains("Bool"): return b ? "yes" : "no"
    case let n as NSNumber:
        let d = n.doubleValue
        return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.1f", d)
    case let x?: return "\(x)"
    }
}
