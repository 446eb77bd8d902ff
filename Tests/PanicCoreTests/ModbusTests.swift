import PanicCore
import Testing

@Suite("Modbus RTU")
struct ModbusTests {
    @Test("CRC-16/MODBUS of the standard check string is 0x4B37")
    func crcCheckValue() {
        #expect(ModbusRTU.crc16(Array("123456789".utf8)) == 0x4B37)
    }

    @Test("a read-discrete-inputs request is framed with its CRC low byte first")
    func request() {
        let frame = ModbusRTU.readDiscreteInputs(slave: 1, start: 0, count: 16)
        #expect(Array(frame.prefix(6)) == [0x01, 0x02, 0x00, 0x00, 0x00, 0x10])
        let crc = ModbusRTU.crc16(frame.prefix(6))
        #expect(frame[6] == UInt8(crc & 0xFF) && frame[7] == UInt8(crc >> 8))
    }

    static func reply(_ slave: UInt8, _ body: [UInt8]) -> [UInt8] {
        let f = [slave] + body
        let crc = ModbusRTU.crc16(f)
        return f + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
    }

    @Test("replies: bits LSB first, exceptions, CRC errors, partial frames, wrong slave")
    func parse() {
        #expect(ModbusRTU.parseResponse(Self.reply(1, [0x02, 0x02, 0b0001_0001, 0b1]), slave: 1, count: 9)
                == .bits([true, false, false, false, true, false, false, false, true]))
        #expect(ModbusRTU.parseResponse(Self.reply(1, [0x82, 0x02]), slave: 1, count: 8) == .exception(2))
        var bad = Self.reply(1, [0x02, 0x01, 0xFF])
        bad[3] ^= 0x01
        #expect(ModbusRTU.parseResponse(bad, slave: 1, count: 8) == .invalid("CRC error"))
        #expect(ModbusRTU.parseResponse([0x01, 0x02, 0x01], slave: 1, count: 8) == .incomplete)
        #expect(ModbusRTU.parseResponse(Self.reply(2, [0x02, 0x01, 0x00]), slave: 1, count: 8) == .invalid("reply from slave 2, expected 1"))
        #expect(ModbusRTU.parseResponse(Self.reply(1, [0x02, 0x02, 0, 0]), slave: 1, count: 8) == .invalid("byte count 2, expected 1"))
    }

    @Test("the poller reports bit changes, raises trouble after three silent polls, and restores when the slave answers")
    func pollerLifecycle() {
        var d = ModbusDriver(points: [.init(slave: 1, address: 4, port: 0), .init(slave: 1, address: 5, port: 1)],
                             pollInterval: .milliseconds(20), responseTimeout: .milliseconds(50), failAfter: 3)
        var now = MonotonicInstant(nanoseconds: 1_000_000_000)
        #expect(d.connected(now: now) == [.write(ModbusRTU.readDiscreteInputs(slave: 1, start: 4, count: 2))])
        #expect(d.received(Self.reply(1, [0x02, 0x01, 0b01]), now: now) == [
            .level(port: 0, asserted: true, at: now), .level(port: 1, asserted: false, at: now),
        ])
        // Next cycle after the poll interval; an unchanged answer reports nothing.
        now = now + .milliseconds(20)
        #expect(d.wakeAt == now)
        #expect(d.tick(now: now).count == 1)
        #expect(d.received(Self.reply(1, [0x02, 0x01, 0b01]), now: now).isEmpty)
        // Silence: three timeouts, then trouble for both ports, once.
        var troubles: [DriverOutput] = []
        for _ in 0..<5 {
            now = now + .milliseconds(20)
            _ = d.tick(now: now)
            now = now + .milliseconds(50)
            troubles += d.tick(now: now).filter { if case .trouble = $0 { true } else { false } }
        }
        #expect(troubles.count == 1)
        guard case .trouble(let ports, let cause, false) = troubles.first else { Issue.record("\(troubles)"); return }
        #expect(ports == [0, 1] && cause.hasPrefix("Modbus slave 1 not answering"))
        now = now + .milliseconds(20)
        _ = d.tick(now: now)
        let back = d.received(Self.reply(1, [0x02, 0x01, 0b10]), now: now)
        #expect(back.first == .trouble(ports: [0, 1], cause: "Modbus slave 1 not answering", cleared: true))
        #expect(back.dropFirst().contains(.level(port: 1, asserted: true, at: now)))
    }

    @Test("a late reply from a slow slave is ignored, not counted against the slave being polled")
    func lateReplyIgnored() {
        var d = ModbusDriver(points: [.init(slave: 1, address: 0, port: 0), .init(slave: 2, address: 0, port: 1)], failAfter: 1)
        var now = MonotonicInstant(nanoseconds: 0)
        _ = d.connected(now: now)
        now = now + .milliseconds(50)
        _ = d.tick(now: now)  // slave 1 timed out; slave 2 is asked
        let late = d.received(Self.reply(1, [0x02, 0x01, 1]), now: now)
        #expect(late.count == 1)
        #expect(!late.contains { if case .trouble([1], _, false) = $0 { true } else { false } })
        #expect(d.received(Self.reply(2, [0x02, 0x01, 1]), now: now).first == .level(port: 1, asserted: true, at: now))
    }

    @Test("one silent slave does not hold up another on the same bus")
    func slavesAreIndependent() {
        var d = ModbusDriver(points: [.init(slave: 1, address: 0, port: 0), .init(slave: 2, address: 0, port: 1)], failAfter: 1)
        var now = MonotonicInstant(nanoseconds: 0)
        _ = d.connected(now: now)
        _ = d.received(Self.reply(1, [0x02, 0x01, 0]), now: now)  // slave 1 answers, slave 2 is asked next
        now = now + .milliseconds(50)
        let out = d.tick(now: now)  // slave 2 times out
        #expect(out.contains { if case .trouble([1], _, false) = $0 { true } else { false } })
        now = now + .milliseconds(20)
        #expect(d.tick(now: now) == [.write(ModbusRTU.readDiscreteInputs(slave: 1, start: 0, count: 1))])
        #expect(d.received(Self.reply(1, [0x02, 0x01, 1]), now: now).first == .level(port: 0, asserted: true, at: now))
    }
}
