import Foundation
import PanicCore
import Testing

let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)

@Suite("Line protocol")
struct LineProtocolTests {
    @Test("default and configured patterns", arguments: [
        ("BTN 3 PRESS", LineProtocolDriver.Patterns(), LineProtocolDriver.Message.press("3")),
        ("BTN lobby-1 RELEASE", .init(), .release("lobby-1")),
        ("HB", .init(), .heartbeat),
        ("  BTN 3 PRESS  ", .init(), .press("3")),
        ("BTN  PRESS", .init(), .unknown),
        ("BTN 3/4 PRESS", .init(), .unknown),
        ("btn 3 press", .init(), .unknown),
        ("K7=1", .init(press: "K{id}=1", release: "K{id}=0", heartbeat: "PING"), .press("7")),
        ("K7=0", .init(press: "K{id}=1", release: "K{id}=0", heartbeat: "PING"), .release("7")),
        ("PING", .init(press: "K{id}=1", release: "K{id}=0", heartbeat: "PING"), .heartbeat),
    ])
    func parses(line: String, patterns: LineProtocolDriver.Patterns, expected: LineProtocolDriver.Message) {
        #expect(LineProtocolDriver.parse(line, patterns: patterns) == expected)
    }

    @Test("presses and releases of configured buttons become port levels; unknown buttons and garbage are rejected, never alarms")
    func garbageIsRejected() {
        var d = LineProtocolDriver(ports: ["1": 0, "2": 1])
        _ = d.connected(now: t0)
        var bytes = Array("BTN 1 PRESS\r\nnoise\n".utf8) + [0xFF, 0xFE, 0x0A] + Array("BTN 9 PRESS\nBTN 2 RELEASE\n".utf8)
        bytes += [UInt8](repeating: 0x41, count: 2000) + Array("\nBTN 2 PRESS\n".utf8)
        let out = d.received(bytes, now: t0)
        #expect(out.filter { if case .level = $0 { true } else { false } } == [
            .level(port: 0, asserted: true, at: t0), .level(port: 1, asserted: false, at: t0), .level(port: 1, asserted: true, at: t0),
        ])
        let rejected = out.compactMap { if case .rejected(let r) = $0 { r } else { nil } }
        #expect(rejected == ["unrecognised line: noise", "line is not valid UTF-8", "button 9 is not configured", "line longer than 1024 bytes"])
    }

    @Test("a line split across reads is reassembled")
    func partialFrames() {
        var d = LineProtocolDriver(ports: ["1": 0])
        _ = d.connected(now: t0)
        #expect(d.received(Array("BTN 1 PR".utf8), now: t0).isEmpty)
        #expect(d.received(Array("ESS\n".utf8), now: t0) == [.level(port: 0, asserted: true, at: t0)])
    }

    @Test("a device that falls silent past its heartbeat timeout is trouble; speaking again restores")
    func heartbeatSupervision() {
        var d = LineProtocolDriver(ports: ["1": 0], heartbeatTimeout: .milliseconds(500))
        _ = d.connected(now: t0)
        #expect(d.wakeAt == t0 + .milliseconds(500))
        _ = d.received(Array("HB\n".utf8), now: t0 + .milliseconds(400))
        #expect(d.tick(now: t0 + .milliseconds(600)).isEmpty)
        let silent = d.tick(now: t0 + .milliseconds(900))
        #expect(silent.count == 1)
        guard case .trouble(nil, let cause, false) = silent.first else { Issue.record("no trouble: \(silent)"); return }
        #expect(cause.hasPrefix("device silent"))
        #expect(d.tick(now: t0 + .seconds(5)).isEmpty, "trouble is raised once")
        #expect(d.received(Array("HB\n".utf8), now: t0 + .seconds(6)) == [.trouble(ports: nil, cause: "device silent", cleared: true)])
    }

    @Test("a device silent, then unplugged and back, has its silence cleared when it speaks again")
    func silenceSurvivesUnplug() {
        var d = LineProtocolDriver(ports: ["1": 0], heartbeatTimeout: .milliseconds(100))
        _ = d.connected(now: t0)
        #expect(d.tick(now: t0 + .milliseconds(200)).count == 1)
        d.disconnected()
        _ = d.connected(now: t0 + .seconds(1))
        #expect(d.tick(now: t0 + .seconds(2)).isEmpty, "no second silence trouble")
        #expect(d.wakeAt == nil, "no deadline left in the past: the loop would spin")
        #expect(d.received(Array("HB\n".utf8), now: t0 + .seconds(3)) == [.trouble(ports: nil, cause: "device silent", cleared: true)])
    }

    @Test("a recorded session replays to the expected events")
    func recordedSession() throws {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Sessions/line-two-buttons.session")
        let text = try String(contentsOf: url, encoding: .utf8)
        var d = LineProtocolDriver(ports: ["1": 0, "2": 1], heartbeatTimeout: .milliseconds(1000))
        _ = d.connected(now: .init(nanoseconds: 0))
        var got: [String] = []
        var expected: [String] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            let now = MonotonicInstant(nanoseconds: Int64(parts[0])! * 1_000_000)
            switch parts[1] {
            case "<": for o in d.received(Array((parts[2] + "\n").utf8), now: now) { got.append(Self.describe(o)) }
            case "tick": for o in d.tick(now: now) { got.append(Self.describe(o)) }
            case "=": expected.append(parts[2])
            default: Issue.record("bad session line \(line)")
            }
        }
        #expect(got == expected)
    }

    static func describe(_ o: DriverOutput) -> String {
        switch o {
        case .level(let p, let a, _): "level \(p) \(a ? 1 : 0)"
        case .trouble(_, _, let cleared): cleared ? "trouble-cleared" : "trouble"
        case .rejected: "rejected"
        case .write: "write"
        }
    }
}

@Suite("Alert rules")
struct AlertRulesTests {
    let decision = DebounceDecision(pressed: true, firstEdge: .init(nanoseconds: 5), decidedAt: .init(nanoseconds: 6), edges: 3, bounce: .init(1_000_000))

    func spec(_ kind: InputKind) -> InputSpec {
        InputSpec(name: "i", kind: kind, zone: 7, area: 2, contact: .normallyOpen, debounce: .init(mode: .stable, window: .milliseconds(20)))
    }

    @Test("a press raises the input's kind; a release its restore; alarms travel first, sensors as telemetry",
          arguments: [(InputKind.panic, AlertPriority.alarm), (.duress, .alarm), (.tamper, .alarm), (.sensor, .telemetry)])
    func pressAndRelease(kind: InputKind, priority: AlertPriority) {
        let at = WallTime(secondsSinceEpoch: 1_800_000_000)
        let press = AlertRules.draft(for: decision, of: spec(kind), occurredAt: at, clockSynchronized: true, test: false)
        #expect(press.kind == kind.alertKind && press.restores == nil && press.zone == 7 && press.area == 2)
        #expect(press.priority == priority)
        #expect(press.detail == "edges=3 bounce_ms=1.000")
        var release = decision
        release.pressed = false
        let restore = AlertRules.draft(for: release, of: spec(kind), occurredAt: at, clockSynchronized: true, test: false)
        #expect(restore.kind == .restore && restore.restores == kind.alertKind && restore.priority == priority)
    }

    @Test("in test mode a press is a test alert, never the input's alarm")
    func testMode() {
        let d = AlertRules.draft(for: decision, of: spec(.panic), occurredAt: .init(secondsSinceEpoch: 0), clockSynchronized: false, test: true)
        #expect(d.kind == .test && d.test && d.priority == .telemetry)
    }
}
