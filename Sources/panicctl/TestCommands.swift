import ArgumentParser
import Foundation
import PanicCore

struct TestInput: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Guided test of one input: press it; see the bounce, the decision, and whether the receiver acknowledged the test alert.",
        discussion: "The input is in test mode meanwhile: its alert is sent as a test (SIA RX / Contact ID 601), not as an alarm.")
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The input to test, as named in the configuration.") var input: String
    @Option(help: "Seconds to wait for the press.") var timeout: Double = 30

    func run() throws {
        let reply = try daemon.call("test", args: ["input": input, "timeout_s": timeout]) { e in
            guard !daemon.json else { return }
            switch ControlEvent(json: e) {
            case .ready(_, let message, _): emit(Output.warn(">>> \(message)"))
            case .edge(_, let level, _, _, _): emit("  edge level=\(level)")
            case .decision(let d) where d.pressed: emit("  PRESS decided: \(d.edges) edge(s), bounce \(d.bounceMs) ms")
            case .decision: emit("  RELEASE decided")
            case .trouble(_, let cause, false, _): emit(Output.bad("  TROUBLE: \(cause)"))
            default: break
            }
        }
        let result = reply["result"] as? [String: Any] ?? [:]
        if daemon.json { print(Output.json(reply)) } else {
            for w in result["warnings"] as? [String] ?? [] { print(Output.warn("  warning: \(w)")) }
            if let d = result["decided_after_ms"] { print("  decided \(text(d)) ms after the first edge") }
            for d in result["deliveries"] as? [[String: Any]] ?? [] {
                if (d["acknowledged"] as? Bool) == true {
                    print(Output.good("  \(text(d["destination"])): acknowledged, press to acknowledgement \(text(d["latency_ms"])) ms"))
                } else {
                    print(Output.bad("  \(text(d["destination"])): NOT acknowledged (\(text(d["error"])))"))
                }
            }
        }
        guard reply["ok"] as? Bool == true else {
            FileHandle.standardError.write(Data("panicctl: test failed: \(text(reply["error"]))\n".utf8))
            throw ExitCode(Exit.checkFailed)
        }
        if !daemon.json { print(Output.good("PASS: \(input) works end to end")) }
    }
}

struct SendTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-test", abstract: "Send a signed test alert through every uplink; show each one's result and latency.")
    @OptionGroup var daemon: DaemonOptions
    @Option(help: "Seconds to wait for acknowledgements.") var timeout: Double = 20

    func run() throws {
        let reply = try daemon.call("send-test", args: ["timeout_s": timeout])
        let result = reply["result"] as? [String: Any] ?? [:]
        if daemon.json { print(Output.json(reply)) } else {
            let rows = (result["destinations"] as? [[String: Any]] ?? []).map { d -> [String] in
                (d["acknowledged"] as? Bool) == true
                    ? [text(d["destination"]), Output.good("acknowledged"), text(d["latency_ms"]) + " ms"]
                    : [text(d["destination"]), Output.bad("FAILED"), text(d["error"])]
            }
            print(Output.table(["DESTINATION", "RESULT", "LATENCY / ERROR"], rows))
        }
        guard reply["ok"] as? Bool == true else { throw ExitCode(Exit.checkFailed) }
    }
}
