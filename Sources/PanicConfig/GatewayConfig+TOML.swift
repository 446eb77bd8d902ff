import Foundation
import PanicCore

extension GatewayConfig {
    /// Reads and validates the file at `path`. Every problem found is
    /// reported, each with file, line and key.
    public static func load(path: String) throws(ConfigErrors) -> GatewayConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot be read (check its permissions)" : "does not exist"
            throw ConfigErrors(errors: [.init(file: path, line: nil, key: nil, message: "configuration file \(why)")])
        }
        // From the bytes, so invalid UTF-8 is reported with its line.
        return try parse(bytes: [UInt8](data), file: path)
    }

    /// Validates TOML text; `file` names it in errors.
    public static func parse(_ text: String, file: String, checkFiles: Bool = true) throws(ConfigErrors) -> GatewayConfig {
        try parse(bytes: Array(text.utf8), file: file, checkFiles: checkFiles)
    }

    /// Validates a file's bytes as TOML; `file` names it in errors.
    public static func parse(bytes: [UInt8], file: String, checkFiles: Bool = true) throws(ConfigErrors) -> GatewayConfig {
        try parseReportingKeys(bytes: bytes, file: file, checkFiles: checkFiles).config
    }

    /// Validates a file's bytes and also returns every key path the loader
    /// looked for while reading it (`inputs[].source.chip`): with examples
    /// that reach every branch, the complete list of accepted keys.
    public static func parseReportingKeys(bytes: [UInt8], file: String, checkFiles: Bool = true) throws(ConfigErrors) -> (config: GatewayConfig, keysRead: Set<String>) {
        let (table, context) = try ReadContext.parse(bytes: bytes, file: file)
        let root = TableReader(table, path: "", context: context)

        let gatewayID = root.string("gateway_id", required: true, allowed: "1 to 64 of A-Z a-z 0-9 . _ -", check: Validate.identifier)
        let site = root.string("site", required: true, allowed: "a description of where the gateway is", check: { $0.isEmpty || $0.count > 200 || !WireLimits.isPrintable($0) ? "must be 1 to 200 characters, none of them control characters" : nil })
        let stateDir = root.string("state_dir", check: Validate.absolutePath) ?? "/var/lib/panic-gateway"
        let keyFile = root.string("key_file", check: Validate.absolutePath) ?? stateDir + "/gateway.key"
        let controlSocket = root.string("control_socket", check: Validate.absolutePath) ?? GatewayConfig.defaultControlSocket
        let controlGroup = root.string("control_group", check: { getgrnam($0) == nil ? "no group \"\($0)\" on this system" : nil })

        var metrics: (host: String, port: Int)?
        if let m = root.table("metrics") {
            if let listen = m.string("listen", required: true, allowed: "a loopback HOST:PORT such as 127.0.0.1:9464") {
                if let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (1...65535).contains(port) {
                    let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                    if Validate.isLoopback(host) { metrics = (host, port) }
                    else { m.fail("listen", "metrics are served on a loopback address only (127.0.0.1, ::1); got \(host)") }
                } else {
                    m.fail("listen", "\"\(listen)\" is not HOST:PORT (e.g. 127.0.0.1:9464)")
                }
            }
            m.rejectUnknownKeys()
        }
        var maxTelemetry = 10_000
        var keepDays = 30, keepRows = 10_000, reserveMiB = 8
        if let outbox = root.table("outbox") {
            maxTelemetry = outbox.int("max_telemetry", range: 100...10_000_000) ?? maxTelemetry
            keepDays = outbox.int("keep_delivered_days", range: 1...3_650, unit: " days") ?? keepDays
            keepRows = outbox.int("keep_delivered_rows", range: 100...10_000_000) ?? keepRows
            reserveMiB = outbox.int("reserve_mib", range: 0...1_024, unit: " MiB") ?? reserveMiB
            outbox.rejectUnknownKeys()
        }

        var serialDevices: [SerialDeviceConfig] = []
        for t in root.tables("serial_devices") ?? [] {
            if let d = readSerialDevice(t) {
                if serialDevices.contains(where: { $0.name == d.name }) { t.fail("name", "\"\(d.name)\" is used by another serial device; names must be unique") }
                serialDevices.append(d)
            }
        }

        var inputs: [InputConfig] = []
        let inputTables = root.tables("inputs") ?? []
        if inputTables.isEmpty { root.fail("inputs", "at least one [[inputs]] table is required") }
        var names = Set<String>()
        for t in inputTables {
            if let input = readInput(t, stateDir: stateDir, serialDevices: serialDevices) {
                if !names.insert(input.spec.name).inserted { t.fail("name", "\"\(input.spec.name)\" is used by another input; names must be unique") }
                if case .serial(let device, let address) = input.source,
                   inputs.contains(where: { $0.source == .serial(device: device, address: address) }) {
                    t.fail("source", "another input already uses this address of serial device \"\(device)\"")
                }
                inputs.append(input)
            }
        }

        var uplinks: [UplinkConfig] = []
        let uplinkTables = root.tables("uplinks") ?? []
        if uplinkTables.isEmpty { root.fail("uplinks", "at least one [[uplinks]] table is required: alerts must go somewhere") }

        var uplinkNames = Set<String>()
        var dc09: [DC09Config] = []
        for t in uplinkTables {
            let kinds = "one of: \"https\", \"\(DC09Config.typeName)\""
            switch t.string("type") ?? "https" {
            case "https":
                if let u = readUplink(t, checkFiles: checkFiles) {
                    if !uplinkNames.insert(u.name).inserted { t.fail("name", "\"\(u.name)\" is used by another uplink; names must be unique") }
                    uplinks.append(u)
                }
            case DC09Config.typeName:
                guard let name = t.string("name", required: true, allowed: "1 to 64 of a-z A-Z 0-9 . _ -", check: Validate.identifier) else {
                    t.markConsumedAll()
                    continue
                }
                if let d = DC09Config.read(t, name: name) {
                    if !uplinkNames.insert(name).inserted { t.fail("name", "\"\(name)\" is used by another uplink; names must be unique") }
                    dc09.append(d)
                }
            case let other:
                t.fail("type", "\"\(other)\" is not allowed; \(kinds)")
                t.markConsumedAll()
            }
        }
        for d in dc09 {
            if d.format == .admCID {
                for i in inputs where i.spec.zone > 999 || i.spec.area > 99 {
                    root.fail("inputs", "input \"\(i.spec.name)\" has zone \(i.spec.zone), area \(i.spec.area); ADM-CID (uplink \"\(d.name)\") carries zones up to 999 and areas up to 99")
                }
            }
            for input in d.codes.keys where !inputs.contains(where: { $0.spec.name == input }) {
                root.fail("uplinks", "uplink \"\(d.name)\": codes names input \"\(input)\", which is not configured")
            }
        }
        root.rejectUnknownKeys()

        if !context.errors.isEmpty { throw ConfigErrors(errors: context.errors) }
        var config = GatewayConfig(
            gatewayID: gatewayID!, site: site!, stateDirectory: stateDir, keyFile: keyFile,
            controlSocket: controlSocket, controlGroup: controlGroup, metricsListen: metrics,
            maximumTelemetry: maxTelemetry, inputs: inputs, serialDevices: serialDevices, uplinks: uplinks, dc09Uplinks: dc09)
        config.keepDeliveredDays = keepDays
        config.keepDeliveredRows = keepRows
        config.outboxReserveBytes = reserveMiB << 20
        return (config, context.keysRead)
    }

    static func readInput(_ t: TableReader, stateDir: String, serialDevices: [SerialDeviceConfig]) -> InputConfig? {
        let name = t.string("name", required: true, allowed: "1 to 64 of a-z A-Z 0-9 . _ -", check: Validate.identifier)
        let kind = t.choice("kind", InputKind.self, required: true)
        let zone = t.int("zone", required: true, range: 0...9999)
        let area = t.int("area", range: 0...99) ?? 1
        let contact = t.choice("contact", ContactType.self) ?? .normallyOpen
        var debounce = DebounceSettings(mode: .immediate, window: .milliseconds(20))
        if let d = t.table("debounce") {
            debounce.mode = d.choice("mode", DebounceSettings.Mode.self) ?? .immediate
            if let w = d.int("window_ms", range: 1...1000, unit: " ms") { debounce.window = .milliseconds(Int64(w)) }
            let hold = d.int("hold_ms", range: 1...30_000, unit: " ms")
            switch (debounce.mode, hold) {
            case (.hold, nil): d.fail("hold_ms", "required when mode = \"hold\"; an integer from 1 to 30000 ms")
            case (.hold, let h?):
                if Int64(h) < debounce.window.value / 1_000_000 { d.fail("hold_ms", "must be at least window_ms (\(debounce.window.value / 1_000_000))") }
                debounce.hold = .milliseconds(Int64(h))
            case (_, .some): d.fail("hold_ms", "only meaningful with mode = \"hold\" (mode is \"\(debounce.mode.rawValue)\")")
            default: break
            }
            d.rejectUnknownKeys()
        }
        var source: SourceConfig?
        if let s = t.table("source", required: true) {
            let allowed = "one of: " + SourceConfig.allowedTypes.map { "\"\($0)\"" }.joined(separator: ", ")
            switch s.string("type", required: true, allowed: allowed) {
            case "simulated":
                let fifo = s.string("fifo", check: Validate.absolutePath) ?? "\(stateDir)/sim/\(name ?? "input")"
                source = .simulated(fifo: fifo)
            case "gpio":
                source = readGPIO(s)
            case "serial":
                source = readSerialSource(s, devices: serialDevices)
            case let other?:
                s.fail("type", "\"\(other)\" is not allowed; \(allowed)")
            case nil:
                break
            }
            s.rejectUnknownKeys()
        }
        var lamp: LampConfig?
        if let l = t.table("lamp") {
            let allowed = "one of: " + LampConfig.allowedTypes.map { "\"\($0)\"" }.joined(separator: ", ")
            switch l.string("type", required: true, allowed: allowed) {
            case "file":
                if let path = l.string("path", required: true, check: Validate.absolutePath) { lamp = .file(path: path) }
            case "gpio":
                if case .gpio(let g)? = readGPIO(l, output: true) { lamp = .gpio(chip: g.chip, line: g.line, activeLow: g.activeLow) }
            case let other?:
                l.fail("type", "\"\(other)\" is not allowed; \(allowed)")
            case nil:
                break
            }
            l.rejectUnknownKeys()
        }
        var openLoop: Nanoseconds?
        if let ms = t.int("tamper_after_ms", range: 100...3_600_000, unit: " ms") {
            if contact == .normallyClosed { openLoop = .milliseconds(Int64(ms)) }
            else { t.fail("tamper_after_ms", "only meaningful with contact = \"normally-closed\" (a cut wire opens a closed loop)") }
        }
        t.rejectUnknownKeys()
        guard let name, let kind, let zone, let source else { return nil }
        return InputConfig(
            spec: InputSpec(name: name, kind: kind, zone: zone, area: area, contact: contact, debounce: debounce, openLoopTamperAfter: openLoop),
            source: source, lamp: lamp)
    }

    static func readSerialSource(_ s: TableReader, devices: [SerialDeviceConfig]) -> SourceConfig? {
        let names = devices.map { "\"\($0.name)\"" }.joined(separator: ", ")
        guard let name = s.string("device", required: true, allowed: "the name of a [[serial_devices]] entry") else { return nil }
        guard let device = devices.first(where: { $0.name == name }) else {
            s.fail("device", "no [[serial_devices]] entry is named \"\(name)\"" + (names.isEmpty ? "; declare the device first" : "; known: \(names)"))
            return nil
        }
        switch device.wire {
        case .line:
            guard let button = s.string("button", required: true, allowed: "the button id the device sends (BTN <id> PRESS)",
                                        check: { LineProtocolDriver.match($0, "{id}") == nil ? "\"\($0)\" is not an id: use letters, digits, - and _" : nil })
            else { return nil }
            return .serial(device: name, address: .button(button))
        case .modbus:
            let slave = s.int("slave", required: true, range: 1...247)
            let input = s.int("input", required: true, range: 0...65535)
            guard let slave, let input else { return nil }
            return .serial(device: name, address: .modbus(slave: slave, input: input))
        case .modemStatus:
            guard let line = s.string("modem_line", required: true, allowed: "one of: \"cts\", \"dsr\", \"dcd\", \"ri\"",
                                      check: { ["cts", "dsr", "dcd", "ri"].contains($0) ? nil : "\"\($0)\" is not allowed; one of: \"cts\", \"dsr\", \"dcd\", \"ri\"" })
            else { return nil }
            return .serial(device: name, address: .modemLine(line))
        }
    }

    static func readSerialDevice(_ t: TableReader) -> SerialDeviceConfig? {
        let name = t.string("name", required: true, allowed: "1 to 64 of a-z A-Z 0-9 . _ -", check: Validate.identifier)
        let hex4: (String) -> String? = { $0.count == 4 && $0.allSatisfy(\.isHexDigit) ? nil : "must be 4 hex digits, as lsusb shows it (e.g. \"0403\")" }
        let vendor = t.string("vendor_id", check: hex4)
        let product = t.string("product_id", check: hex4)
        let serial = t.string("serial")
        let interface = t.int("interface", range: 0...255)
        let portPath = t.string("port_path")
        let byID = t.string("by_id", check: { $0.hasPrefix("/dev/serial/by-id/") ? nil : "must be a /dev/serial/by-id/… path" })
        let path = t.string("path", check: Validate.absolutePath)
        if path != nil && [vendor, product, serial, portPath, byID].contains(where: { $0 != nil }) {
            t.fail("path", "a fixed path excludes vendor_id, product_id, serial, port_path and by_id: identify the device one way")
        }
        if path == nil && [vendor, product, serial, portPath, byID].allSatisfy({ $0 == nil }) {
            t.fail("vendor_id", "required: identify the device by vendor_id/product_id (with serial, interface, port_path) or by_id, or give a fixed path")
        }
        var settings = SerialSettings()
        if let baud = t.int("baud", range: 1200...921_600) {
            if SerialSettings.supportedBauds.contains(baud) { settings.baud = baud }
            else { t.fail("baud", "\(baud) is not a supported rate; one of: \(SerialSettings.supportedBauds.map(String.init).joined(separator: ", "))") }
        }
        settings.dataBits = t.int("data_bits", range: 7...8) ?? 8
        settings.parity = t.choice("parity", SerialSettings.Parity.self) ?? .none
        settings.stopBits = t.int("stop_bits", range: 1...2) ?? 1
        let grace = t.int("absent_grace_s", range: 1...3600, unit: " s") ?? 10
        var wire: SerialDeviceConfig.Wire?
        switch t.string("protocol", required: true, allowed: "one of: \"line\", \"modbus\", \"modem-status\"") {
        case "line":
            var p = LineProtocolDriver.Patterns()
            if let v = t.string("press_pattern", check: { LineProtocolDriver.Patterns.problem($0, needsID: true) }) { p.press = v }
            if let v = t.string("release_pattern", check: { LineProtocolDriver.Patterns.problem($0, needsID: true) }) { p.release = v }
            if let v = t.string("heartbeat_pattern", check: { LineProtocolDriver.Patterns.problem($0, needsID: false) }) { p.heartbeat = v }
            let hb = t.int("heartbeat_timeout_ms", range: 100...3_600_000, unit: " ms")
            wire = .line(p, heartbeatTimeout: hb.map { .milliseconds(Int64($0)) })
        case "modbus":
            let poll = t.int("poll_interval_ms", range: 5...60_000, unit: " ms") ?? 20
            let timeout = t.int("response_timeout_ms", range: 5...10_000, unit: " ms") ?? 50
            let fail = t.int("fail_after", range: 1...100) ?? 3
            wire = .modbus(pollInterval: .milliseconds(Int64(poll)), responseTimeout: .milliseconds(Int64(timeout)), failAfter: fail)
        case "modem-status":
            wire = .modemStatus
        case let other?:
            t.fail("protocol", "\"\(other)\" is not allowed; one of: \"line\", \"modbus\", \"modem-status\"")
        case nil:
            break
        }
        t.rejectUnknownKeys()
        guard let name, let wire else { return nil }
        return SerialDeviceConfig(
            name: name,
            match: SerialMatch(vendorID: vendor, productID: product, serial: serial, interface: interface, portPath: portPath, byID: byID, path: path),
            settings: settings, wire: wire, absentGrace: .seconds(Int64(grace)))
    }

    /// A GPIO line; `output`: a lamp's, which has no bias to set.
    static func readGPIO(_ s: TableReader, output: Bool = false) -> SourceConfig? {
        let chip = s.string("chip", required: true, allowed: "a chip name (gpiochip0), label, or /dev path", check: { $0.isEmpty ? "must not be empty" : nil })
        let offset = s.int("line", range: 0...4095)
        let lineName = s.string("line_name", check: { $0.isEmpty ? "must not be empty" : nil })
        var selector: GPIOLineSelector?
        switch (offset, lineName) {
        case (let o?, nil): selector = .offset(o)
        case (nil, let n?): selector = .name(n)
        case (.some, .some): s.fail("line_name", "give line (an offset) or line_name, not both")
        case (nil, nil): s.fail("line", "required: line (offset on the chip) or line_name")
        }
        let bias = output ? .asIs : (s.choice("bias", GPIOBias.self) ?? .asIs)
        let activeLow = s.bool("active_low") ?? false
        guard let chip, let selector else { return nil }
        return .gpio(GPIOSourceConfig(chip: chip, line: selector, bias: bias, activeLow: activeLow))
    }

    static func readUplink(_ t: TableReader, checkFiles: Bool) -> UplinkConfig? {
        let name = t.string("name", required: true, allowed: "1 to 64 of a-z A-Z 0-9 . _ -", check: Validate.identifier)
        let url = t.string("url", required: true, allowed: "https://host[:port]", check: Validate.uplinkURL)
        let fileCheck: (String) -> String? = { p in Validate.absolutePath(p) ?? (checkFiles ? Validate.readableFile(p) : nil) }
        let ca = t.string("ca_file", check: fileCheck)
        let cert = t.string("client_cert", check: fileCheck)
        let key = t.string("client_key", check: fileCheck)
        if cert != nil, key == nil { t.fail("client_cert", "given without client_key; give both or neither") }
        if key != nil, cert == nil { t.fail("client_key", "given without client_cert; give both or neither") }
        let connect = t.int("connect_timeout_ms", range: 100...60_000, unit: " ms") ?? 3_000
        let request = t.int("request_timeout_ms", range: 100...120_000, unit: " ms") ?? 10_000
        let heartbeat = t.int("heartbeat_interval_s", range: 1...3_600, unit: " s") ?? 60
        let initial = t.int("backoff_initial_ms", range: 10...60_000, unit: " ms") ?? 250
        let maximum = t.int("backoff_max_ms", range: 100...3_600_000, unit: " ms") ?? 30_000
        if maximum < initial { t.fail("backoff_max_ms", "must be at least backoff_initial_ms (\(initial))") }
        let batch = t.int("batch_max_alerts", range: 1...1_000) ?? 100
        var fallbacks: [String] = []
        if let list = t.table.array(for: "fallback_urls") {
            for (i, item) in list.enumerated() {
                if let s = item.string, Validate.uplinkURL(s) == nil, s != url, !fallbacks.contains(s), fallbacks.count < 8 {
                    fallbacks.append(s)
                } else {
                    t.fail("fallback_urls", "item \(i) must be another https://host[:port] of the same receiver (at most 8, none twice, not url itself)")
                }
            }
        }
        t.markConsumed("fallback_urls")
        t.rejectUnknownKeys()
        guard let name, let url else { return nil }
        return UplinkConfig(
            name: name, url: url, caFile: ca, clientCertificate: cert, clientKey: key,
            connectTimeoutMilliseconds: connect, requestTimeoutMilliseconds: request,
            heartbeatIntervalSeconds: heartbeat,
            backoff: Backoff(initial: .milliseconds(Int64(initial)), maximum: .milliseconds(Int64(maximum))),
            fallbackURLs: fallbacks, batchMaximumAlerts: batch)
    }
}

/// Field checks shared by the gateway's and the receiver's configuration.
public enum Validate {
    public static func identifier(_ s: String) -> String? {
        let ok = !s.isEmpty && s.count <= 64 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        return ok ? nil : "\"\(s)\" is not allowed; use 1 to 64 of A-Z a-z 0-9 . _ -"
    }

    public static func absolutePath(_ s: String) -> String? {
        s.hasPrefix("/") ? nil : "must be an absolute path (starting with /), got \"\(s)\""
    }

    public static func readableFile(_ s: String) -> String? {
        FileManager.default.isReadableFile(atPath: s) ? nil : "file \(s) does not exist or is not readable"
    }

    /// https anywhere; plain http only to loopback (tests, the demo).
    public static func uplinkURL(_ s: String) -> String? {
        guard let c = URLComponents(string: s), let scheme = c.scheme?.lowercased(), let host = c.host, !host.isEmpty else {
            return "\"\(s)\" is not a URL; expected https://host[:port]"
        }
        if c.query != nil || c.fragment != nil { return "must not have a query or fragment" }
        switch scheme {
        case "https": return nil
        case "http":
            return isLoopback(host) ? nil : "plain http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost); use https for \(host)"
        default:
            return "scheme \"\(scheme)\" is not allowed; use https"
        }
    }

    /// `HOST[:PORT]` lower-cased, with the port written out (443 when absent),
    /// or nil when it is not an authority.
    public static func authority(_ text: String, defaultPort: Int = 443) -> String? {
        let t = text.lowercased()
        guard !t.isEmpty, t.utf8.count <= 300, !t.contains("/"), !t.contains("@"), !t.contains(" ") else { return nil }
        var host = t, port = defaultPort
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]") else { return nil }
            host = String(t[...close])
            let rest = t[t.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65_535).contains(p) else { return nil }
                port = p
            }
        } else if let colon = t.lastIndex(of: ":") {
            guard t.firstIndex(of: ":") == colon, let p = Int(t[t.index(after: colon)...]), (1...65_535).contains(p) else { return nil }
            host = String(t[..<colon])
            port = p
        }
        guard !host.isEmpty, host != "[]" else { return nil }
        return "\(host):\(port)"
    }

    /// True for `localhost`, an IPv4 address in 127.0.0.0/8 or `::1` (with
    /// or without brackets), parsed as an address: `127.attacker.example`
    /// is a host name, not loopback.
    public static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var bare = Substring(host)
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = bare.dropFirst().dropLast() }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(bare), &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
    }
}
