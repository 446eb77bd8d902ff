import ArgumentParser
import Foundation
import PanicConfig
import PanicCore
import PanicReceiverKit
import PanicSigning

/// `panic-receiver gateways …`: the gateways and keys registered in the
/// receiver's database, which every replica trusts within a second.
struct Gateways: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register gateways and their keys in the database (every replica trusts them).",
        subcommands: [Add.self, AddKey.self, RemoveKey.self, List.self, Disable.self, Enable.self, Remove.self])

    static func change(_ db: DatabaseOption, _ change: RegistryChange) async throws {
        do {
            try await db.withStore { try await $0.changeRegistry(change, at: Operators.now()) }
            emit("\(change.gatewayID): done")
        } catch let error as RegistryError {
            FileHandle.standardError.write(Data("panic-receiver gateways: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func checkID(_ id: String) throws {
        if let problem = Validate.identifier(id) { throw ValidationError(problem) }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a gateway with its public key(s).")
        @OptionGroup var db: DatabaseOption
        @Argument(help: "The gateway's id, as in its configuration.") var id: String
        @Option(help: "The site (embassy) it is installed at.") var site: String
        @Option(name: .customLong("public-key"), help: "Base64 Ed25519 public key, as `panic-gateway keygen` prints it; repeat for several.")
        var publicKeys: [String]

        func validate() throws {
            try Gateways.checkID(id)
            if publicKeys.isEmpty { throw ValidationError("give at least one --public-key") }
            if site.isEmpty || site.count > 200 || site.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw ValidationError("--site must be 1 to 200 printable characters")
            }
        }
        func run() async throws { try await Gateways.change(db, .add(id: id, site: site, publicKeys: publicKeys)) }
    }

    struct AddKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-key", abstract: "Trust another key of a registered gateway (a manual rotation's first step).")
        @OptionGroup var db: DatabaseOption
        @Argument var id: String
        @Option(name: .customLong("public-key")) var publicKey: String
        func validate() throws { try Gateways.checkID(id) }
        func run() async throws { try await Gateways.change(db, .addKey(id: id, publicKey: publicKey)) }
    }

    struct RemoveKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-key", abstract: "Stop trusting one key of a registered gateway (by keyid, as `list` shows it).")
        @OptionGroup var db: DatabaseOption
        @Argument var id: String
        @Argument(help: "The keyid (16 hex digits).") var keyID: String
        func validate() throws { try Gateways.checkID(id) }
        func run() async throws { try await Gateways.change(db, .removeKey(id: id, keyID: keyID)) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a registered gateway's requests (its keys stay registered).")
        @OptionGroup var db: DatabaseOption
        @Argument var id: String
        func validate() throws { try Gateways.checkID(id) }
        func run() async throws { try await Gateways.change(db, .setEnabled(id: id, false)) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept a disabled gateway's requests again.")
        @OptionGroup var db: DatabaseOption
        @Argument var id: String
        func validate() throws { try Gateways.checkID(id) }
        func run() async throws { try await Gateways.change(db, .setEnabled(id: id, true)) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a gateway and its keys from the registry (its stored alerts stay).")
        @OptionGroup var db: DatabaseOption
        @Argument var id: String
        func validate() throws { try Gateways.checkID(id) }
        func run() async throws { try await Gateways.change(db, .remove(id: id)) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered gateways and their keyids.")
        @OptionGroup var db: DatabaseOption
        @Flag(help: "JSON instead of a table.") var json = false

        func run() async throws {
            let rows = try await db.withStore { try await $0.registeredGateways() }
            if json {
                let objects: [[String: Any]] = rows.map { ["id": $0.id, "site": $0.site, "enabled": $0.enabled, "keys": $0.keys.keys.sorted()] }
                emit(String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys]), as: UTF8.self))
                return
            }
            emit("GATEWAY              STATE     SITE                           KEYS")
            for g in rows {
                emit([g.id.escapingControlCharacters.padding(toLength: 20, withPad: " ", startingAt: 0),
                      (g.enabled ? "enabled" : "DISABLED").padding(toLength: 9, withPad: " ", startingAt: 0),
                      g.site.escapingControlCharacters.padding(toLength: 30, withPad: " ", startingAt: 0),
                      g.keys.keys.sorted().joined(separator: ",")].joined(separator: " "))
            }
        }
    }
}
