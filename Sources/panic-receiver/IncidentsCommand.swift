import ArgumentParser
import Foundation
import PanicConfig
import PanicConsole
import PanicCore
import PanicReceiverKit

/// `panic-receiver incidents …`: the console's queue from a shell, for a
/// control room whose browser is down, scripts, and the rig. Every change is
/// made as a named, enabled operator and audited exactly as the console's.
struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The open incidents; acknowledge or resolve one as an operator (audited as in the console).",
        subcommands: [List.self, Acknowledge.self, Resolve.self])

    /// The operator named, if it exists and is enabled.
    static func operatorName(_ name: String, in store: any ConsoleStore) async throws -> String {
        guard let who = try await store.credentials(of: name) else { throw ConsoleError.unknownOperator(name) }
        guard who.enabled else { throw ConsoleError.unknownOperator("\(name) (disabled)") }
        return who.name
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open incidents, most urgent first.")
        @OptionGroup var db: DatabaseOption
        @Flag(help: "JSON, one incident per line.") var json = false
        func run() async throws {
            let open = try await Operators.withConsole(db) { try await $0.openIncidents() }
            let console = ReceiverConfig.Console()
            if json {
                for i in open { print(IncidentView(i, console: console).json) }
                return
            }
            print("ID      KIND      STATE         GATEWAY              INPUT                PRESSES  PRESSED")
            for i in open {
                print([String(i.id).padding(toLength: 7, withPad: " ", startingAt: 0), i.kind.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0),
                       i.state.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0),
                       i.gatewayID.escapingControlCharacters.padding(toLength: 20, withPad: " ", startingAt: 0),
                       (i.input ?? "-").escapingControlCharacters.padding(toLength: 20, withPad: " ", startingAt: 0),
                       String(i.presses).padding(toLength: 8, withPad: " ", startingAt: 0), i.occurredAt.rfc3339].joined(separator: " "))
            }
        }
    }

    struct Acknowledge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Acknowledge an incident as an operator.")
        @OptionGroup var db: DatabaseOption
        @Argument var id: Int64
        @Option(name: .customLong("as"), help: "The operator acting (must exist and be enabled).") var operatorName: String
        func run() async throws {
            let id = self.id, name = operatorName
            let done = try await Operators.withConsole(db) { store in
                try await store.acknowledge(id, by: try await Incidents.operatorName(name, in: store), at: Operators.now())
            }
            emit("incident \(done.id): acknowledged by \(done.acknowledgedBy ?? name)")
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resolve an incident as an operator, with a disposition and a note.")
        @OptionGroup var db: DatabaseOption
        @Argument var id: Int64
        @Option(name: .customLong("as"), help: "The operator acting (must exist and be enabled).") var operatorName: String
        @Option(help: "genuine, false-alarm, test or technical-fault.") var disposition: String
        @Option(help: "What happened (at most 4,000 bytes).") var note: String = ""
        func validate() throws {
            if Disposition(rawValue: disposition) == nil { throw ValidationError(ConsoleError.invalidDisposition(disposition).description) }
        }
        func run() async throws {
            let id = self.id, name = operatorName, note = self.note, d = Disposition(rawValue: disposition) ?? .genuine
            let done = try await Operators.withConsole(db) { store in
                try await store.resolve(id, by: try await Incidents.operatorName(name, in: store), disposition: d, note: note, at: Operators.now())
            }
            emit("incident \(done.id): resolved (\(d.rawValue)) by \(done.resolvedBy ?? name)")
        }
    }
}
