import ArgumentParser
import Foundation
import PanicConfig
import PanicSigning

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Configuration.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate the configuration: every problem with file:line: key (exit 2 if refused).")
        @Argument(help: "File to check.") var file: String = GatewayConfig.defaultPath
        @Flag(help: "JSON instead of text.") var json = false

        func run() throws {
            do {
                let cfg = try GatewayConfig.load(path: file)
                if json { print(Output.json(["file": file, "ok": true, "inputs": cfg.inputs.count, "uplinks": cfg.destinationNames.count])) }
                else { print("\(file): OK — gateway \(cfg.gatewayID), \(cfg.inputs.count) input(s), \(cfg.destinationNames.count) uplink(s)") }
            } catch {
                if json {
                    print(Output.json(["file": file, "ok": false, "errors": error.errors.map { ["line": $0.line as Any, "key": $0.key as Any, "message": $0.message] }]))
                } else {
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                }
                throw ExitCode(Exit.configInvalid)
            }
        }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The gateway's signing key.", subcommands: [Show.self, Generate.self, Rotate.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Public key, key id and fingerprint of the configured key.")
        @OptionGroup var file: ConfigFile
        @Flag(help: "JSON instead of text.") var json = false

        func run() throws {
            let cfg = try file.load()
            do {
                let key = try KeyFile.load(cfg.keyFile)
                let p = key.publicKey
                if json { print(Output.json(["key_file": cfg.keyFile, "public_key": p.base64, "key_id": p.keyID, "fingerprint": "SHA256:\(p.fingerprint)"])) }
                else { print("key file:    \(cfg.keyFile)\npublic key:  \(p.base64)\nkey id:      \(p.keyID)\nfingerprint: SHA256:\(p.fingerprint)") }
            } catch {
                FileHandle.standardError.write(Data("panicctl: \(error)\n".utf8))
                throw ExitCode(Exit.keyProblem)
            }
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new Ed25519 key (mode 0600, never overwriting) and print its public key.")
        @Option(name: .shortAndLong, help: "The gateway's configuration: without --out, the key goes to its key_file.")
        var config: String = GatewayConfig.defaultPath
        @Option(help: "Where to write it (default: the configuration's key_file, /var/lib/panic-gateway/gateway.key unless set).")
        var out: String?
        @Flag(help: "JSON instead of text.") var json = false

        func run() throws {
            let out: String
            if let given = self.out { out = given } else {
                do { out = try GatewayConfig.load(path: config).keyFile } catch {
                    FileHandle.standardError.write(Data("panicctl: cannot read \(config) to find its key_file (\(error)); fix it, or say where the key goes with --out PATH\n".utf8))
                    throw ExitCode(Exit.configInvalid)
                }
            }
            let key = SigningKey.generate()
            do { try KeyFile.create(key, at: out) }
            catch { FileHandle.standardError.write(Data("panicctl: \(error)\n".utf8)); throw ExitCode(Exit.keyProblem) }
            let p = key.publicKey
            if json { print(Output.json(["key_file": out, "public_key": p.base64, "key_id": p.keyID, "fingerprint": "SHA256:\(p.fingerprint)"])) }
            else { print("key file:    \(out) (mode 0600)\npublic key:  \(p.base64)\nkey id:      \(p.keyID)\nfingerprint: SHA256:\(p.fingerprint)") }
        }
    }
}

extension Keys {
    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate the signing key in two steps, so the receiver trusts both keys during the switch.",
            discussion: "Step 1 (`panicctl keys rotate`) writes KEY_FILE.next; the daemon announces its public key in every heartbeat, signed with the current key, and the receiver starts trusting it. Step 2 (`panicctl keys rotate --commit`), once `panic-receiver tail` shows the key announced, switches the daemon to the new key; the old one is kept as KEY_FILE.old.")
        @OptionGroup var daemon: DaemonOptions
        @Flag(help: "Switch the running daemon to the announced key.") var commit = false

        func run() throws {
            guard let cfg = try? GatewayConfig.load(path: daemon.config) else {
                FileHandle.standardError.write(Data("panicctl: cannot read \(daemon.config)\n".utf8))
                throw ExitCode(Exit.configInvalid)
            }
            if commit {
                let r = try daemon.check(try daemon.call("rotate-key"))
                if daemon.json { print(Output.json(r)) } else { print("now signing with key \(text(r["key_id"])) (was \(text(r["previous_key_id"])))") }
                return
            }
            let next = cfg.keyFile + ".next"
            let key: SigningKey
            if let existing = try? KeyFile.load(next) { key = existing } else {
                key = SigningKey.generate()
                do { try KeyFile.create(key, at: next) }
                catch { FileHandle.standardError.write(Data("panicctl: \(error)\n".utf8)); throw ExitCode(Exit.keyProblem) }
            }
            let p = key.publicKey
            if daemon.json { print(Output.json(["next_key_file": next, "public_key": p.base64, "key_id": p.keyID])); return }
            print("next key:    \(next) (mode 0600)\npublic key:  \(p.base64)\nkey id:      \(p.keyID)")
            print("It is announced with every heartbeat from now on. When the receiver shows it, run: panicctl keys rotate --commit")
        }
    }
}
