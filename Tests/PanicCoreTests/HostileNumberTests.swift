import PanicCore
import Testing

/// Numbers from outside, at the edges of their types: each once crashed (or
/// could crash) the gateway or the receiver.
@Suite("Numbers from outside cannot trap")
struct HostileNumberTests {
    @Test("time arithmetic saturates at the ends of Int64 instead of trapping")
    func timeArithmeticSaturates() {
        let max = MonotonicInstant(nanoseconds: .max), min = MonotonicInstant(nanoseconds: .min)
        #expect((max + .milliseconds(20)).nanoseconds == .max)
        #expect((max - min).value == .max)
        #expect((min - max).value == .min)
        #expect(Nanoseconds.seconds(.max).value == .max)
        #expect(Nanoseconds.milliseconds(.min).value == .min)
        let early = WallTime(nanosecondsSinceEpoch: .min), late = WallTime(nanosecondsSinceEpoch: .max)
        #expect((late - early).value == .max)
        #expect(WallTime(secondsSinceEpoch: .max).nanosecondsSinceEpoch == .max)
        #expect(Int64.max.saturatingMultiply(-2) == .min)
        #expect(Int64.min.saturatingMultiply(-1) == .max)
        #expect((-1e300).clampedNanoseconds(maximum: 10) == 0 && 1e300.clampedNanoseconds(maximum: 10) == 10 && Double.nan.clampedNanoseconds(maximum: 10) == 0)
    }

    @Test("a debouncer fed a stamp of Int64.max decides without trapping")
    func debounceAtTheEndOfTime() {
        for mode in DebounceSettings.Mode.allCases {
            var d = Debouncer(settings: .init(mode: mode, window: .milliseconds(20), hold: mode == .hold ? .milliseconds(50) : .init(0)))
            let decided = d.edge(pressed: true, at: .init(nanoseconds: .max)) + d.edge(pressed: false, at: .init(nanoseconds: .max))
            _ = d.advance(to: .init(nanoseconds: .max))
            #expect(d.nextDeadline == nil || d.nextDeadline!.nanoseconds == .max)
            #expect(mode != .immediate || decided.first?.firstEdge.nanoseconds == .max)
        }
    }

    @Test("RFC 3339 times: years outside 2000-2200 and days the month lacks are refused")
    func wallTimeRanges() {
        #expect(WallTime(rfc3339: "2026-12-02T10:00:00.000001Z") != nil)
        #expect(WallTime(rfc3339: "2024-02-29T00:00:00Z") != nil)
        for bad in ["1677-09-21T00:12:43.145224Z", "1500-01-01T00:00:00Z", "2263-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                    "2026-02-31T00:00:00Z", "2025-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-00-10T00:00:00Z",
                    "2026-01-01T00:00:00.\(String(repeating: "9", count: 60))Z"] {
            #expect(WallTime(rfc3339: bad) == nil, "\(bad)")
        }
    }

    @Test("a FIFO line's stamp is range-checked where it is read")
    func simulatedLineStamps() throws {
        #expect(try SimulatedInputLine.parse(Array("1 123".utf8)).get() == (true, 123))
        #expect(try SimulatedInputLine.parse(Array("0".utf8)).get() == (false, nil))
        for bad in ["1 9223372036854775807", "1 0", "1 -5", "1 99999999999999999999", "2", "1 2 3", ""] {
            #expect((try? SimulatedInputLine.parse(Array(bad.utf8)).get()) == nil, "\(bad)")
        }
    }

    @Test("Modbus inputs 0 and 65535 on one slave are two reads of one input each, none over 2000")
    func modbusSpanIsSplit() {
        var d = ModbusDriver(points: [.init(slave: 1, address: 0, port: 0), .init(slave: 1, address: 65_535, port: 1),
                                      .init(slave: 1, address: 1_999, port: 2), .init(slave: 2, address: 7, port: 3)])
        var frames: [[UInt8]] = []
        var out = d.connected(now: .init(nanoseconds: 1))
        var t: Int64 = 1
        for _ in 0..<3 {
            for case .write(let f) in out { frames.append(f) }
            t += 100_000_000
            out = d.tick(now: .init(nanoseconds: t))
        }
        let counts = frames.map { (Int($0[0]), Int($0[2]) << 8 | Int($0[3]), Int($0[4]) << 8 | Int($0[5])) }
        #expect(counts.prefix(3).map { $0.0 } == [1, 1, 2])
        #expect(counts[0].1 == 0 && counts[0].2 == 2_000)
        #expect(counts[1].1 == 65_535 && counts[1].2 == 1)
        #expect(counts.allSatisfy { $0.2 >= 1 && $0.2 <= ModbusDriver.maximumInputsPerRead })
    }
}

@Suite("Alert and heartbeat fields on the wire")
struct WireValidationTests {
    let now = WallTime(secondsSinceEpoch: 1_800_000_000)

    func alert(_ change: (inout Alert) -> Void = { _ in }) -> Alert {
        var a = Alert(id: AlertIDGenerator().next(at: now), gatewayID: "gw-1", site: "Embassy", sequence: 1, kind: .panic,
                      input: "lobby", zone: 1, area: 1, occurredAt: now, acceptedAt: now, clockSynchronized: true)
        change(&a)
        return a
    }

    @Test("an alert in range passes; each field out of range is named")
    func alertFields() {
        #expect(alert().wireProblem() == nil)
        let cases: [(String, (inout Alert) -> Void)] = [
            ("sequence", { $0.sequence = .max }), ("sequence", { $0.sequence = 0 }), ("zone", { $0.zone = -5 }),
            ("area", { $0.area = 123_456 }), ("heartbeat", { $0.kind = .heartbeat }), ("version", { $0.version = 999 }),
            ("input", { $0.input = "\u{1B}[2J" }), ("site", { $0.site = "a\nb" }), ("site", { $0.site = String(repeating: "x", count: 201) }),
            ("detail", { $0.detail = String(repeating: "x", count: 2_001) }), ("detail", { $0.detail = "\u{1B}]0;x\u{07}" }),
            ("restore", { $0.kind = .restore }), ("restores", { $0.restores = .panic }), ("gateway_id", { $0.gatewayID = "gw 1" }),
            ("id", { $0.id = "not-a-uuid" }),
        ]
        for (word, change) in cases {
            let problem = alert(change).wireProblem()
            #expect(problem?.contains(word) == true, "\(word): \(problem ?? "accepted")")
        }
    }

    @Test("a heartbeat interval whose nanoseconds would overflow is refused")
    func heartbeatFields() {
        let ok = Heartbeat(id: AlertIDGenerator().next(at: now), gatewayID: "gw-1", site: "s", sentAt: now, intervalSeconds: 60,
                           lastSequence: 3, queue: [], inputs: [.init(name: "b", state: "idle")], clockSynchronized: true, evictedTelemetry: 0)
        #expect(ok.wireProblem() == nil)
        var b = ok; b.intervalSeconds = 3_100_000_000
        #expect(b.wireProblem()?.contains("interval_s") == true)
        b = ok; b.lastSequence = .max
        #expect(b.wireProblem()?.contains("last_sequence") == true)
        b = ok; b.queue = [.init(destination: "c", pending: -1, oldestPendingAgeSeconds: nil)]
        #expect(b.wireProblem()?.contains("pending") == true)
        b = ok; b.queue = [.init(destination: "c", pending: 1, oldestPendingAgeSeconds: .infinity)]
        #expect(b.wireProblem()?.contains("oldest") == true)
        b = ok; b.version = 2
        #expect(b.wireProblem()?.contains("version") == true)
    }

    @Test("escape sequences and newlines are written out, so a line cannot be forged")
    func escaping() {
        #expect("plain text".escapingControlCharacters == "plain text")
        #expect("a\nb\u{1B}[31m".escapingControlCharacters == "a\\u{A}b\\u{1B}[31m")
        #expect(!"x\u{9B}y\r".escapingControlCharacters.unicodeScalars.contains { $0.value < 0x20 || (0x7F..<0xA0).contains($0.value) })
    }
}

@Suite("What the gateway sends is what the receiver accepts")
struct WireSafeDetailTests {
    @Test("a detail quoting a device's escape sequences is escaped and bounded, and then passes the receiver's check")
    func detailIsMadeSafe() {
        let now = WallTime(secondsSinceEpoch: 1_800_000_000)
        for raw in ["line \u{1B}[2J rejected\r", String(repeating: "é", count: 5_000), "two\nlines\tok"] {
            let a = Alert(id: AlertIDGenerator().next(at: now), gatewayID: "gw", site: "s", sequence: 1, kind: .trouble,
                          occurredAt: now, acceptedAt: now, clockSynchronized: true, detail: Alert.wireSafeDetail(raw))
            #expect(a.wireProblem() == nil, "\(raw.prefix(20))")
        }
        #expect(Alert.wireSafeDetail("two\nlines") == "two\nlines")
    }
}

/// The receiver's and console's time text.
@Suite struct RFC3339TextTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000000Z"),
        (1_796_000_000_123_456_789, "2026-11-30T00:53:20.123456Z"),
        (951_782_400_000_001_000, "2000-02-29T00:00:00.000001Z"),
        (9_223_372_036_854_775_807, "2262-04-11T23:47:16.854775Z"),
        (-1_000, "1969-12-31T23:59:59.999999Z"),
    ])
    func timesAreWrittenZeroPaddedToTheMicrosecond(ns: Int64, text: String) {
        #expect(WallTime(nanosecondsSinceEpoch: ns).rfc3339 == text)
        // Read back where the parser takes the year (it refuses the far past and future).
        if let back = WallTime(rfc3339: text) { #expect(back.nanosecondsSinceEpoch == ns / 1_000 * 1_000, "read back") }
    }
}
