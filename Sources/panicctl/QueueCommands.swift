import ArgumentParser
import Foundation

struct Queue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pending alerts per destination. Alarms are never deleted from here.",
        subcommands: [List.self, Show.self, Retry.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Pending alerts per destination (the default).")
        @OptionGroup var daemon: DaemonOptions
        @Option(help: "At most this many per destination.") var limit = 50

        func run() throws {
            let r = try daemon.check(try daemon.call("queue", args: ["limit": limit]))
            if daemon.json { print(Output.json(r)); return }
            let pending = r["pending"] as? [String: Any] ?? [:]
            for s in r["summary"] as? [[String: Any]] ?? [] {
                let dest = text(s["destination"])
                print("\(dest): \(text(s["pending"])) pending (\(text(s["pending_alarms"])) alarm), oldest \(text(s["oldest_pending_age_s"])) s, \(text(s["delivered"])) delivered")
                let rows = (pending[dest] as? [[String: Any]] ?? []).map {
                    ["#\(text($0["sequence"]))" + (($0["durable"] as? Bool) == false ? " (memory only)" : ""), text($0["kind"]), text($0["id"]),
                     text($0["attempts"]), text($0["accepted_at"]), text($0["last_error"])]
                }
                if !rows.isEmpty { print(Output.table(["SEQ", "KIND", "ID", "TRIES", "ACCEPTED", "LAST ERROR"], rows)) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One alert, by id (or a unique prefix) or sequence number.")
        @OptionGroup var daemon: DaemonOptions
        @Argument var id: String

        func run() throws {
            let r = try daemon.check(try daemon.call("queue-show", args: ["id": id]))
            print(Output.json(r))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Skip the back-off: try every pending alert now.")
        @OptionGroup var daemon: DaemonOptions

        func run() throws {
            let r = try daemon.check(try daemon.call("queue-retry"))
            if daemon.json { print(Output.json(r)) } else { print("\(text(r["made_due"])) pending delivery(ies) made due now") }
        }
    }
}
