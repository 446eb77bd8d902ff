import Foundation
import Logging
import PanicCore
import PanicInputs
import PanicPlatform
import Testing

@Suite("Serial device source over a real pty", .serialized)
struct SerialSourceTests {
    let clock = SystemClock()
    let logger = Logger(label: "test")

    func lineLoop(_ pty: PseudoTerminal, heartbeat: Nanoseconds? = nil, log: EventLog) throws -> (InputLoop, SerialDeviceSource) {
        let source = SerialDeviceSource(
            name: "box", match: SerialMatch(path: pty.path), settings: SerialSettings(baud: 115200),
            protocol: .driver(LineProtocolDriver(ports: ["1": 0, "2": 1], heartbeatTimeout: heartbeat)), clock: clock, logger: logger)
        let loop = try InputLoop(inputs: [spec("b1", mode: .immediate), spec("b2", mode: .immediate)],
                                 devices: [.init(source: source, inputs: [0, 1])], clock: clock, logger: logger, sink: log.add)
        return (loop, source)
    }

    @Test("two buttons on one box: each press reaches its own input; garbage is counted, not an alarm")
    func twoButtons() throws {
        let pty = try PseudoTerminal.open()
        defer { close(pty.master); close(pty.slave) }
        let log = EventLog()
        let (loop, source) = try lineLoop(pty, log: log)
        loop.start()
        defer { loop.stop() }
        usleep(50_000)
        send(pty.master, "garbage\nBTN 2 PRESS\nBTN 7 PRESS\n")
        #expect(eventually { log.decisions.count == 1 })
        #expect(log.all.contains { if case .decision(1, let d) = $0 { d.pressed } else { false } })
        #expect(eventually { source.rejectedCount == 2 })
        send(pty.master, "BTN 1 PRESS\n")
        #expect(eventually { log.all.contains { if case .decision(0, let d) = $0 { d.pressed } else { false } } })
    }

    @Test("the port is set raw: bytes pass unchanged, no echo back to the device")
    func rawMode() throws {
        let pty = try PseudoTerminal.open()
        defer { close(pty.master); close(pty.slave) }
        let log = EventLog()
        let (loop, _) = try lineLoop(pty, log: log)
        loop.start()
        defer { loop.stop() }
        usleep(50_000)
        send(pty.master, "BTN 1 PRESS\r\n")
        #expect(eventually { log.decisions.count == 1 })
        var buf = [UInt8](repeating: 0, count: 64)
        _ = fcntl(pty.master, F_SETFL, fcntl(pty.master, F_GETFL) | O_NONBLOCK)
        #expect(read(pty.master, &buf, 64) <= 0, "a raw port does not echo")
    }

    @Test("silence past the heartbeat timeout is trouble for every input of the device, and heartbeats clear it")
    func silence() throws {
        let pty = try PseudoTerminal.open()
        defer { close(pty.master); close(pty.slave) }
        let log = EventLog()
        let (loop, _) = try lineLoop(pty, heartbeat: .milliseconds(200), log: log)
        loop.start()
        defer { loop.stop() }
        send(pty.master, "HB\n")
        #expect(eventually { log.troubles.count == 2 })
        #expect(log.troubles.allSatisfy { !$0.1 && $0.0.hasPrefix("device silent") })
        send(pty.master, "HB\n")
        #expect(eventually { log.troubles.count == 4 })
        #expect(log.troubles.suffix(2).allSatisfy { $0.1 })
    }

    @Test("the device side closing (unplug) is trouble within a second")
    func unplug() throws {
        let pty = try PseudoTerminal.open()
        defer { close(pty.slave) }
        let log = EventLog()
        let (loop, _) = try lineLoop(pty, log: log)
        loop.start()
        defer { loop.stop() }
        usleep(50_000)
        let start = Date()
        close(pty.master)
        #expect(eventually(2) { log.troubles.count >= 2 })
        #expect(Date().timeIntervalSince(start) < 1)
        #expect(log.troubles.first?.0.contains("unplugged") == true)
    }

    @Test("a fixed path that does not exist is trouble naming the device")
    func missingPath() throws {
        let log = EventLog()
        let source = SerialDeviceSource(
            name: "gone", match: SerialMatch(path: "/dev/ttyDOESNOTEXIST"), settings: SerialSettings(),
            protocol: .driver(LineProtocolDriver(ports: ["1": 0])), clock: clock, logger: logger)
        let loop = try InputLoop(inputs: [spec("b1")], devices: [.init(source: source, inputs: [0])], clock: clock, logger: logger, sink: log.add)
        loop.start()
        defer { loop.stop() }
        #expect(eventually { log.troubles.count == 1 })
        #expect(log.troubles.first?.0.contains("/dev/ttyDOESNOTEXIST") == true)
    }

    @Test("a device found by identity that never appears is trouble after its grace period")
    func neverAppears() throws {
        let log = EventLog()
        let source = SerialDeviceSource(
            name: "usb", match: SerialMatch(vendorID: "0403", productID: "6001", serial: "NOPE"), settings: SerialSettings(),
            protocol: .driver(LineProtocolDriver(ports: ["1": 0])), clock: clock, logger: logger, absentGrace: .milliseconds(200))
        let loop = try InputLoop(inputs: [spec("b1")], devices: [.init(source: source, inputs: [0])], clock: clock, logger: logger, sink: log.add)
        loop.start()
        defer { loop.stop() }
        usleep(100_000)
        #expect(log.troubles.isEmpty)
        #expect(eventually { log.troubles.count == 1 })
        #expect(log.troubles.first?.0.contains("not found") == true)
        // It appears (as hotplug would say): opened, trouble cleared.
        let pty = try PseudoTerminal.open()
        defer { close(pty.master); close(pty.slave) }
        source.appeared(at: pty.path)
        loop.poke()
        #expect(eventually { log.troubles.count == 2 && log.troubles[1].1 })
    }

    @Test("a removal and a new appearance in one hotplug batch end with the device open at its new node")
    func replugInOneBatch() throws {
        let log = EventLog()
        let source = SerialDeviceSource(
            name: "usb", match: SerialMatch(vendorID: "0403", productID: "6001"), settings: SerialSettings(),
            protocol: .driver(LineProtocolDriver(ports: ["1": 0])), clock: clock, logger: logger, absentGrace: .seconds(30))
        let loop = try InputLoop(inputs: [spec("b1", mode: .immediate)], devices: [.init(source: source, inputs: [0])], clock: clock, logger: logger, sink: log.add)
        let first = try PseudoTerminal.open(), second = try PseudoTerminal.open()
        defer { close(first.master); close(first.slave); close(second.master); close(second.slave) }
        loop.start()
        defer { loop.stop() }
        source.appeared(at: first.path)
        loop.poke()
        #expect(eventually { source.descriptor >= 0 })
        // As the hotplug source does on the loop thread: both events, then one wake.
        source.disappeared(at: first.path)
        source.appeared(at: second.path)
        loop.poke()
        #expect(eventually { log.troubles.count == 2 }, "unplugged, then back")
        #expect(log.troubles.map(\.1) == [false, true])
        send(second.master, "BTN 1 PRESS\n")
        #expect(eventually { log.decisions.count == 1 }, "reads from the new node")
    }
}
