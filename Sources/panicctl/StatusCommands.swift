import ArgumentParser
import Foundation
import PanicCore
import PanicPlatform

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Uptime, every input and its state, every uplink, the queue, the clock.")
    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        let r = try daemon.check(try daemon.call("status"))
        if daemon.json { print(Output.json(r)); return }
        print("gateway \(text(r["gateway_id"])) — \(text(r["site"])) — up \(text(r["uptime_s"])) s, last sequence \(text(r["last_sequence"]))")
        let inputs = (r["inputs"] as? [[String: Any]] ?? []).map { i -> [String] in
            let state = text(i["state"])
            let painted = state == "idle" ? Output.good(state) : state == "pressed" ? Output.warn(state) : Output.bad(state)
            let lamp: String
            switch i["lamp"] as? String {
            case "steady"?: lamp = Output.good("acknowledged")
            case "blinking"?: lamp = Output.warn("sent, waiting")
            case "off"?: lamp = "none open"
            default: lamp = "no lamp"
            }
            return [text(i["name"]), text(i["kind"]), text(i["zone"]), painted + ((i["test_mode"] as? Bool) == true ? " (test)" : ""), lamp, text(i["trouble"])]
        }
        print("\n" + Output.table(["INPUT", "KIND", "ZONE", "STATE", "CONTROL ROOM", "TROUBLE"], inputs))
        let uplinks = (r["uplinks"] as? [[String: Any]] ?? []).map { u -> [String] in
            let health = u["refusal"] is String ? Output.bad("REFUSED") : (u["consecutive_failures"] as? Int ?? 0) > 0 ? Output.bad("DOWN") : Output.good("ok")
            return [text(u["name"]), health, text(u["last_success"]), text(u["last_error"]), text(u["backoff_until"]), text(u["last_heartbeat_ack"])]
        }
        print("\n" + Output.table(["UPLINK", "HEALTH", "LAST SUCCESS", "LAST ERROR", "BACK-OFF UNTIL", "LAST HEARTBEAT ACK"], uplinks))
        let queue = (r["queue"] as? [[String: Any]] ?? []).map { q in
            [text(q["destination"]), text(q["pending"]), text(q["pending_alarms"]), text(q["oldest_pending_age_s"]), text(q["delivered"])]
        }
        print("\n" + Output.table(["QUEUE", "PENDING", "ALARMS", "OLDEST (s)", "DELIVERED"], queue))
        if let o = r["outbox"] as? [String: Any], (o["writable"] as? Bool) == false {
            print("\n" + Output.bad("OUTBOX CANNOT WRITE") + ": \(text(o["unwritten_alerts"])) alert(s) held in memory only (\(text(o["unwritten_reason"]))); "
                  + "they are delivered from memory and lost if the daemon stops. Free space on the state directory's disk.")
        } else if let o = r["outbox"] as? [String: Any], (o["reserve_in_place"] as? Bool) == false {
            print("\n" + Output.warn("outbox reserve given up") + ": the disk filled up; free space so the reserve can be made again.")
        }
        let c = r["clock"] as? [String: Any] ?? [:]
        let synced = (c["synchronized"] as? Bool) == true
        print("\nclock: " + (synced ? Output.good("synchronised") : Output.bad("NOT synchronised")) + ", estimated error \(text(c["estimated_error_us"])) µs")
    }
}

struct Clock: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Clock synchronisation and estimated error (adjtimex); no daemon needed.")
    @Flag(help: "JSON instead of text.") var json = false

    func run() {
        let c = ClockDiscipline.current()
        if json {
            print(Output.json(["synchronized": c.synchronized, "estimated_error_us": c.estimatedErrorMicroseconds, "maximum_error_us": c.maximumErrorMicroseconds]))
            return
        }
        print("clock: " + (c.synchronized ? Output.good("synchronised") : Output.bad("NOT synchronised (alerts carry clock_synchronized=false)")))
        print("estimated error: \(c.estimatedErrorMicroseconds) µs, maximum error: \(c.maximumErrorMicroseconds) µs")
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live raw edges and debounce decisions, with monotonic and wall times, until interrupted.")
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "Inputs to watch (all when none).") var inputs: [String] = []

    func run() throws {
        let reply = try daemon.call("watch", args: ["inputs": inputs]) { e in
            if daemon.json { emit(Output.json(e).replacingOccurrences(of: "\n", with: "")); return }
            guard let event = ControlEvent(json: e) else {
                emit("\(text(e["wall"]))  \(text(e["type"])) \(text(e["input"] ?? e["id"]))")
                return
            }
            func name(_ s: String) -> String { s.padding(toLength: 16, withPad: " ", startingAt: 0) }
            switch event {
            case .edge(let input, let level, let mono, let latency, let wall):
                emit("\(wall)  \(name(input)) edge level=\(level) mono=\(mono) read+\(latency)µs")
            case .decision(let d):
                emit("\(d.wall)  \(name(d.input)) " + Output.warn(event.type.uppercased())
                      + " first-edge=\(d.firstEdgeWall) edges=\(d.edges) bounce=\(d.bounceMs)ms")
            case .trouble(let input, let cause, false, let wall):
                emit("\(wall)  \(name(input)) " + Output.bad("TROUBLE") + " \(cause)")
            case .watching(let inputs):
                emit("watching \(inputs.joined(separator: ", ")) — Ctrl-C to stop")
            case .accepted(let id, _, _, _, _, let wall), .delivered(let id, _, _, let wall):
                emit("\(wall)  \(event.type) \(id)")
            default:
                emit("\(text(e["wall"]))  \(event.type) \(event.input ?? "")")
            }
        }
        _ = try daemon.check(reply)
    }
}

/// Streamed output goes out unbuffered, line by line, so a pipe sees each
/// event as it happens (emit() is block-buffered when stdout is not a tty).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
