import ArgumentParser
import Foundation
import PanicConfig
import PanicCore
import PanicPlatform

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hardware as found: GPIO chips and lines, marked against the configuration. Works without the daemon.")

    @Option(name: .shortAndLong, help: "The gateway's configuration (to mark configured devices); optional.")
    var config: String = GatewayConfig.defaultPath

    @Flag(help: "JSON instead of text.")
    var json = false

    @Flag(help: "Print TOML for the hardware found that the configuration does not use yet, ready to paste into it.")
    var suggest = false

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
        if suggest {
            print(Suggestion.toml(chips: chips, usb: usb, config: cfg, configPath: config,
                                  gpioUsed: { chip, line in owner(chip, line) != nil }, serialUsed: { serialOwner($0) != nil }))
            return
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
