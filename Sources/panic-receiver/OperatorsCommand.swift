import ArgumentParser
import Foundation
import PanicConfig
import PanicConsole
import PanicCore
import PanicReceiverKit

/// `panic-receiver operators …`: the console's accounts, in the receiver's
/// database. Passwords are read from the terminal without echo, or one line
/// from standard input with `--password-stdin` (scripts); never from the
/// command line, where `ps` would show them.
struct Operators: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operator accounts of the console: add, passwd, disable, enable, list.",
        subcommands: [Add.self, Passwd.self, Disable.self, Enable.self, List.self])

    static func now() -> WallTime { ReceiverClock().wallNow() }

    /// Runs `body` with the console's store, or says why there is none.
    static func withConsole<T: Sendable>(_ db: DatabaseOption, _ body: @escaping @Sendable (any ConsoleStore) async throws -> T) async throws -> T {
        do {
            return try await db.withStore { store in try await body(store) }
        } catch let error as ConsoleError {
            FileHandle.standardError.write(Data("panic-receiver operators: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// A new password: from stdin, or typed twice at the terminal.
    static func readPassword(stdin: Bool) throws -> String {
        let password: String
        if stdin {
            guard let line = readLine(strippingNewline: true) else { throw ValidationError("no password on standard input") }
            password = line
        } else {
            guard isatty(0) == 1 else { throw ValidationError("standard input is not a terminal: give --password-stdin and the password on one line") }
            let first = String(cString: getpass("New password: "))
            let again = String(cString: getpass("Again: "))
            guard first == again else { throw ValidationError("the two passwords differ; nothing changed") }
            password = first
        }
        if let problem = PasswordRule.problem(password) { throw ValidationError(problem) }
        return password
    }

    static func check(_ name: String) throws {
        if !ConsoleError.validName(name) { throw ValidationError(ConsoleError.invalidOperatorName(name).description) }
    }

    struct CostOption: ParsableArguments {
        @Option(help: "bcrypt cost for the new password (2^cost rounds; 12 unless the console's configuration says otherwise).")
        var bcryptCost: Int?
        func validate() throws {
            if let c = bcryptCost, !(4...16).contains(c) { throw ValidationError("--bcrypt-cost must be 4...16") }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an operator (asks for the password).")
        @OptionGroup var db: DatabaseOption
        @OptionGroup var cost: CostOption
        @Argument(help: "Login name: a-z, 0-9, '.', '_', '-', starting with a letter.") var name: String
        @Option(help: "operator or supervisor.") var role: String = "operator"
        @Flag(help: "Read the password from standard input (one line).") var passwordStdin = false
        func validate() throws {
            try Operators.check(name)
            if OperatorRole(rawValue: role) == nil { throw ValidationError("--role must be operator or supervisor") }
        }
        func run() async throws {
            let hash = PasswordHasher(cost: cost.bcryptCost ?? db.consoleCost()).hash(try Operators.readPassword(stdin: passwordStdin))
            let name = self.name, role = OperatorRole(rawValue: role) ?? .operator
            try await Operators.withConsole(db) { try await $0.addOperator(name: name, role: role, passwordHash: hash, at: Operators.now()) }
            emit("\(name): added (\(role.rawValue))")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set an operator's password (ends the operator's sessions).")
        @OptionGroup var db: DatabaseOption
        @OptionGroup var cost: CostOption
        @Argument var name: String
        @Flag(help: "Read the password from standard input (one line).") var passwordStdin = false
        func validate() throws { try Operators.check(name) }
        func run() async throws {
            let hash = PasswordHasher(cost: cost.bcryptCost ?? db.consoleCost()).hash(try Operators.readPassword(stdin: passwordStdin))
            let name = self.name
            try await Operators.withConsole(db) { try await $0.setPassword(name: name, passwordHash: hash, at: Operators.now()) }
            emit("\(name): password changed; the operator's sessions are ended")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse an operator's logins and end the sessions (the audit log keeps the name).")
        @OptionGroup var db: DatabaseOption
        @Argument var name: String
        func validate() throws { try Operators.check(name) }
        func run() async throws {
            let name = self.name
            try await Operators.withConsole(db) { try await $0.setOperatorEnabled(name: name, false, at: Operators.now()) }
            emit("\(name): disabled")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled operator log in again.")
        @OptionGroup var db: DatabaseOption
        @Argument var name: String
        func validate() throws { try Operators.check(name) }
        func run() async throws {
            let name = self.name
            try await Operators.withConsole(db) { try await $0.setOperatorEnabled(name: name, true, at: Operators.now()) }
            emit("\(name): enabled")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List operators: name, role, state.")
        @OptionGroup var db: DatabaseOption
        func run() async throws {
            let all = try await Operators.withConsole(db) { try await $0.operators() }
            print("NAME                 ROLE        STATE")
            for o in all {
                print(o.name.padding(toLength: 20, withPad: " ", startingAt: 0) + " " + o.role.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + " " + (o.enabled ? "enabled" : "disabled"))
            }
        }
    }
}

extension DatabaseOption {
    /// The console's bcrypt cost from the configuration, else 12.
    func consoleCost() -> Int {
        guard let config, let cfg = try? ReceiverConfig.load(path: config) else { return 12 }
        return cfg.console?.bcryptCost ?? 12
    }
}
