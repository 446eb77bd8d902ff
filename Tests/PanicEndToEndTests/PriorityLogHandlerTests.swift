import Logging
import PanicGatewayKit
import Testing

@Suite("A log event is one journal entry at its own priority")
struct PriorityLogHandlerTests {
    /// The refused reload's message spans lines ("…stays in force:\n<file>:<line>: …").
    /// Written raw, journald made two entries of it, and the second — the line that
    /// says what is wrong — was logged at the default priority, not as an error
    /// (found by the appliance-install HIL scenario: `journalctl -p err` missed it).
    @Test func aMultiLineErrorIsOneLineWithItsPriority() {
        let line = PriorityLogHandler.line(
            level: .error, message: "configuration reload refused; the running configuration stays in force:\ngateway.toml:9: inputs[2].zone: 12000 is out of range 0…9999",
            metadata: [:])
        #expect(line == "<3>configuration reload refused; the running configuration stays in force:\\ngateway.toml:9: inputs[2].zone: 12000 is out of range 0…9999\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    /// A value from outside (a device's product string, a peer's answer) cannot start
    /// an entry of its own, of any priority.
    @Test func controlCharactersFromOutsideCannotForgeAnEntry() {
        let line = PriorityLogHandler.line(
            level: .info, message: "serial device open",
            metadata: ["device.product": "FT232R\n<0>gateway compromised\r\u{1b}[2J", "input.name": "box\t1"])
        #expect(line == "<6>serial device open device.product=\"FT232R\\n<0>gateway compromised\\r\\x1b[2J\" input.name=box\\t1\n")
        #expect(!line.dropLast().contains(where: { $0.isNewline }))
    }

    @Test func plainTextIsWrittenAsItIs() {
        #expect(PriorityLogHandler.line(level: .warning, message: "delivery failed", metadata: ["uplink": "central", "why": "connection refused"])
                == "<4>delivery failed uplink=central why=\"connection refused\"\n")
    }
}
