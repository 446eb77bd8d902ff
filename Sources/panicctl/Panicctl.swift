import ArgumentParser
import Foundation
import PanicConfig
import PanicCore
import PanicOutbox
import PanicPlatform
import PanicSigning

/// The technician's CLI. This first version reads the configuration, the
/// key and the outbox directly; the daemon's control socket comes later.
@main
struct Panicctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panicctl",
        abstract: "Technician's tool for a panic-gateway box.",
        subcommands: [Devices.self, ConfigCommand.self, Queue.self, Keys.self])
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

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hardware as found: GPIO chips and lines, marked against the configuration. Works without the daemon.")

    @Option(name: .shortAndLong, help: "The gateway's configuration (to mark configured lines); optional.")
    var config: String = GatewayConfig.defaultPath

    @Flag(help: "JSON instead of text.")
    var json = false

    func run() throws {
        let configured: [(input: String, gpio: GPIOSourceConfig)] = ((try? GatewayConfig.load(path: config))?.inputs ?? []).compactMap {
            if case .gpio(let g) = $0.source { return ($0.spec.name, g) } else { return nil }
        }
        let chips = GPIOChips.list()
        let cfg = try? GatewayConfig.load(path: config)
        let usb = (try? UdevSerial())?.enumerate() ?? []
        let serialConfigured = cfg?.serialDevices ?? []
        func serialOwner(_ d: SerialDeviceInfo) -> String? { serialConfigured.first { $0.match.matches(d) }?.name }
        let serialMissing = serialConfigured.filter { dev in !usb.contains { dev.match.matches($0) } && !(dev.match.path.map { FileManager.default.fileExists(atPath: $0) } ?? false) }
        func owner(_ chip: GPIOChips.Chip, _ line: GPIOChips.Line) -> String? {
            configured.first { c in
                let chipMatches = [chip.path, chip.name, chip.label].contains(c.gpio.chip)
                switch c.gpio.line {
                case .offset(let o): return chipMatches && o == line.offset
                case .name(let n): return chipMatches && n == line.name
                }
            }?.input
        }
        var missing: [String] = []
        for c in configured {
            let present = chips.contains { chip in
                guard [chip.path, chip.name, chip.label].contains(c.gpio.chip) else { return false }
                return chip.lines.contains { owner(chip, $0) == c.input }
            }
            if !present { missing.append("\(c.input): \(c.gpio.chip) \(c.gpio.line)") }
        }
        if json {
            let objects: [[String: Any]] = chips.map { chip in
                ["path": chip.path, "name": chip.name, "label": chip.label, "lines": chip.lines.map { l in
                    ["offset": l.offset, "name": l.name, "consumer": l.consumer, "used": l.used, "configured_as": owner(chip, l) as Any]
                }]
            }
            let serial: [[String: Any]] = usb.map { d in
                ["devnode": d.devnode, "vendor_id": d.vendorID, "product_id": d.productID, "serial": d.serial, "interface": d.interface,
                 "port_path": d.portPath, "manufacturer": d.manufacturer, "product": d.product, "driver": d.driver, "by_id": d.byID,
                 "configured_as": serialOwner(d) as Any]
            }
            let data = try JSONSerialization.data(withJSONObject: [
                "gpio_chips": objects, "libgpiod": LibgpiodBackend.api, "configured_missing": missing + serialMissing.map { "\($0.name): \($0.match)" },
                "usb_serial": serial, "udevd_running": UdevSerial.udevdRunning,
            ], options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("GPIO (\(LibgpiodBackend.api))")
        if chips.isEmpty { print("  no GPIO chips found (/dev/gpiochip* absent)") }
        for chip in chips {
            print("  \(chip.path)  \(chip.name)  [\(chip.label)]  \(chip.lines.count) lines")
            for l in chip.lines where l.used || !l.name.isEmpty || owner(chip, l) != nil {
                let mark = owner(chip, l).map { "configured: \($0)" } ?? (l.used ? "in use, not configured" : "free")
                print("    line \(String(l.offset).padding(toLength: 4, withPad: " ", startingAt: 0)) \((l.name.isEmpty ? "-" : l.name).padding(toLength: 16, withPad: " ", startingAt: 0)) consumer=\(l.consumer.isEmpty ? "-" : l.consumer)  \(mark)")
            }
        }
        for m in missing { print("  CONFIGURED BUT MISSING  \(m)") }
        print("USB serial (udevd \(UdevSerial.udevdRunning ? "running" : "not running: no /dev/serial/by-id links"))")
        if usb.isEmpty { print("  no USB serial devices found") }
        for d in usb {
            let mark = serialOwner(d).map { "configured: \($0)" } ?? "present, not configured"
            print("  \(d.devnode)  \(d.vendorID):\(d.productID) serial=\(d.serial.isEmpty ? "-" : d.serial) interface=\(d.interface.isEmpty ? "-" : d.interface) port=\(d.portPath) driver=\(d.driver)  \(d.manufacturer) \(d.product)  \(mark)")
            for link in d.byID { print("      \(link)") }
        }
        for dev in serialMissing { print("  CONFIGURED BUT MISSING  \(dev.name): \(dev.match)") }
    }
}
