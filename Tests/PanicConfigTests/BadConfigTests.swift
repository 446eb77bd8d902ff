import Foundation
import PanicConfig
import Testing

/// Every file in BadConfigs/ starts with `# expect: MESSAGE`: the exact,
/// complete error text `check-config` must print for it.
@Suite("Broken configuration files")
struct BadConfigTests {
    static func files() throws -> [String] {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("BadConfigs").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".toml") }.sorted()
    }

    @Test("each broken file is refused with its exact message", arguments: try files())
    func refusedWithExactMessage(name: String) throws {
        let url = Bundle.module.resourceURL!.appendingPathComponent("BadConfigs/\(name)")
        let text = try String(contentsOf: url, encoding: .utf8)
        let expected = String(text.split(separator: "\n")[0].dropFirst("# expect: ".count))
        #expect(throws: ConfigErrors.self) { try GatewayConfig.parse(text, file: name) }
        do {
            _ = try GatewayConfig.parse(text, file: name)
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test("there are enough broken files to mean something")
    func tableIsPopulated() throws {
        #expect(try Self.files().count >= 15)
    }
}

@Suite("Valid configuration")
struct ValidConfigTests {
    static let example = """
        gateway_id = "embassy-x-gw1"
        site = "Embassy X, building A"
        state_dir = "/var/lib/panic-gateway"

        [outbox]
        max_telemetry = 5000

        [[inputs]]
        name = "lobby-panic"
        kind = "panic"
        zone = 501
        area = 2
        contact = "normally-closed"
        debounce = { mode = "hold", window_ms = 15, hold_ms = 300 }
        source = { type = "simulated", fifo = "/run/panic-gateway/sim/lobby" }

        [[uplinks]]
        name = "central"
        url = "https://central.example:8443/"
        heartbeat_interval_s = 30
        backoff_initial_ms = 100
        backoff_max_ms = 20000
        """

    @Test("every field of a full example is read as written, defaults fill the rest")
    func fullExample() throws {
        let c = try GatewayConfig.parse(Self.example, file: "example.toml")
        #expect(c.gatewayID == "embassy-x-gw1")
        #expect(c.keyFile == "/var/lib/panic-gateway/gateway.key")
        #expect(c.outboxPath == "/var/lib/panic-gateway/outbox.db")
        #expect(c.maximumTelemetry == 5000)
        let i = try #require(c.inputs.first)
        #expect(i.spec.zone == 501 && i.spec.area == 2)
        #expect(i.spec.contact == .normallyClosed)
        #expect(i.spec.debounce.mode == .hold)
        #expect(i.spec.debounce.window.value == 15_000_000)
        #expect(i.spec.debounce.hold.value == 300_000_000)
        #expect(i.source == .simulated(fifo: "/run/panic-gateway/sim/lobby"))
        let u = try #require(c.uplinks.first)
        #expect(u.heartbeatIntervalSeconds == 30)
        #expect(u.connectTimeoutMilliseconds == 3000)
        #expect(u.backoff.maximum.value == 20_000_000_000)
    }

    @Test("all problems of a file are reported together, not only the first")
    func reportsEveryProblem() {
        let text = Self.example.replacingOccurrences(of: "zone = 501", with: "zone = -1")
            .replacingOccurrences(of: "heartbeat_interval_s = 30", with: "heartbeat_interval_s = 0")
        do {
            _ = try GatewayConfig.parse(text, file: "x.toml")
            Issue.record("accepted a broken file")
        } catch {
            #expect(error.errors.map(\.key) == ["inputs[0].zone", "uplinks[0].heartbeat_interval_s"])
        }
    }

    @Test("a missing file is named as missing")
    func missingFile() {
        do {
            _ = try GatewayConfig.load(path: "/nonexistent/gateway.toml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description == "/nonexistent/gateway.toml: configuration file does not exist")
        }
    }
}

@Suite("Shipped example")
struct ShippedExampleTests {
    @Test("deploy/gateway.toml.example is a valid configuration")
    func exampleIsValid() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = repo.appendingPathComponent("deploy/gateway.toml.example").path
        let config = try GatewayConfig.load(path: path)
        #expect(config.inputs.count == 2)
        #expect(config.uplinks.first?.url == "https://alerts.central.example:8443")
    }
}

@Suite("GPIO inputs in the configuration")
struct GPIOConfigTests {
    @Test("a GPIO input by line name with bias, active-low and open-loop tamper is read as written")
    func gpioByName() throws {
        let text = """
            gateway_id = "gw"
            site = "s"
            [[inputs]]
            name = "door"
            kind = "tamper"
            zone = 9
            contact = "normally-closed"
            tamper_after_ms = 5000
            source = { type = "gpio", chip = "pinctrl-bcm2835", line_name = "GPIO17", bias = "pull-up", active_low = true }
            [[uplinks]]
            name = "c"
            url = "https://c.example"
            """
        let c = try GatewayConfig.parse(text, file: "g.toml")
        let input = try #require(c.inputs.first)
        #expect(input.source == .gpio(GPIOSourceConfig(chip: "pinctrl-bcm2835", line: .name("GPIO17"), bias: .pullUp, activeLow: true)))
        #expect(input.spec.openLoopTamperAfter == .milliseconds(5000))
    }
}
