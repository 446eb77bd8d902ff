import Foundation
import PanicConfig
import PanicCore
import PanicPlatform

/// TOML for hardware the configuration does not use yet: one `[[inputs]]`
/// per free GPIO line (by name where the chip names it, by offset where not;
/// the chip by its label, which survives renumbering), one
/// `[[serial_devices]]` per USB serial adapter (by vendor, product and serial
/// number) with one input on it. Names are unique and zones are free, so
/// the whole block can be pasted as it is; `check-config` accepts it.
enum Suggestion {
    static func toml(chips: [GPIOChips.Chip], usb: [SerialDeviceInfo], config: GatewayConfig?, configPath: String,
                     gpioUsed: (GPIOChips.Chip, GPIOChips.Line) -> Bool, serialUsed: (SerialDeviceInfo) -> Bool) -> String {
        var names = Set(config?.inputs.map(\.spec.name) ?? [])
        var deviceNames = Set(config?.serialDevices.map(\.name) ?? [])
        var zones = Set(config?.inputs.map(\.spec.zone) ?? [])
        var nextZone = 501
        func zone() -> Int {
            while zones.contains(nextZone) { nextZone += 1 }
            zones.insert(nextZone)
            return nextZone
        }
        func unique(_ base: String, in set: inout Set<String>) -> String {
            let clean = String(base.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "-" }.prefix(56))
            var name = clean.isEmpty ? "input" : clean
            var n = 2
            while set.contains(name) { name = "\(clean)-\(n)"; n += 1 }
            set.insert(name)
            return name
        }
        func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }

        var out = ["# panicctl devices --suggest: hardware found that \(config == nil ? "no configuration" : configPath) does not use yet.",
                   "# Review each block (kind, zone, contact, debounce), then paste it into the configuration and run",
                   "# panic-gateway check-config. Every key is described in docs/CONFIGURATION.md."]
        let labels = Dictionary(grouping: chips, by: \.label)
        var found = 0
        for chip in chips {
            // A label names the chip across reboots and re-plugging; a shared or empty one does not.
            let chipRef = !chip.label.isEmpty && labels[chip.label]?.count == 1 ? chip.label : chip.name
            let free = chip.lines.filter { !$0.used && !gpioUsed(chip, $0) }
            guard !free.isEmpty else { continue }
            out.append("")
            out.append("# GPIO \(chip.path) \(chip.name) [\(chip.label)]: \(free.count) free line(s)")
            for line in free {
                found += 1
                let lineKey = line.name.isEmpty ? "line = \(line.offset)" : "line_name = \(quoted(line.name))"
                let name = unique(line.name.isEmpty ? "\(chipRef)-\(line.offset)" : line.name, in: &names)
                out += ["[[inputs]]",
                        "name = \(quoted(name))",
                        "kind = \"panic\"",
                        "zone = \(zone())",
                        "contact = \"normally-open\"",
                        "debounce = { mode = \"stable\", window_ms = 20 }",
                        "source = { type = \"gpio\", chip = \(quoted(chipRef)), \(lineKey), bias = \"pull-up\", active_low = true }",
                        ""]
            }
        }
        for d in usb where !serialUsed(d) {
            found += 1
            let device = unique(d.product.isEmpty ? "serial-\(d.vendorID)-\(d.productID)" : d.product.lowercased(), in: &deviceNames)
            let input = unique("\(device)-1", in: &names)
            out.append("")
            out.append("# USB serial \(d.devnode): \(d.vendorID):\(d.productID) \(d.manufacturer) \(d.product) serial=\(d.serial.isEmpty ? "-" : d.serial)")
            out.append("# protocol: \"line\" for a button box that sends text lines, \"modbus\" for a Modbus RTU input module, \"modem-status\" for contacts on CTS/DSR/DCD/RI.")
            out += ["[[serial_devices]]",
                    "name = \(quoted(device))",
                    "protocol = \"line\"",
                    "vendor_id = \(quoted(d.vendorID))",
                    "product_id = \(quoted(d.productID))"]
            if !d.serial.isEmpty { out.append("serial = \(quoted(d.serial))") }
            if let n = Int(d.interface, radix: 16), n > 0 { out.append("interface = \(n)") }
            out += ["baud = 9600",
                    "",
                    "[[inputs]]",
                    "name = \(quoted(input))",
                    "kind = \"panic\"",
                    "zone = \(zone())",
                    "source = { type = \"serial\", device = \(quoted(device)), button = \"1\" }",
                    ""]
        }
        if found == 0 { out.append("# nothing: every GPIO line and USB serial device found is configured or in use") }
        return out.joined(separator: "\n")
    }
}
