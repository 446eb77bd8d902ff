import Foundation
import PanicCore
import Testing

@Suite("Control-socket events: typed on both sides, the same JSON on the wire")
struct ControlEventTests {
    static let events: [ControlEvent] = [
        .edge(input: "lobby", level: 1, monoNs: 123_456_789, readLatencyUs: 42, wall: "2026-12-02T04:00:00.000000Z"),
        .decision(.init(pressed: true, input: "lobby", firstEdgeMonoNs: 100, decidedMonoNs: 25_000_100, edges: 7, bounceMs: 3.5,
                        firstEdgeWall: "2026-12-02T04:00:00.000000Z", wall: "2026-12-02T04:00:00.025000Z")),
        .decision(.init(pressed: false, input: "lobby", firstEdgeMonoNs: 1, decidedMonoNs: 2, edges: 1, bounceMs: 0, firstEdgeWall: "a", wall: "b")),
        .trouble(input: "door", cause: "serial device silent", cleared: false, wall: "w"),
        .trouble(input: "door", cause: "", cleared: true, wall: "w"),
        .openLoop(input: "door", cleared: false, wall: "w"),
        .accepted(id: "0193", sequence: 9, kind: "panic", input: "lobby", test: true, wall: "w"),
        .accepted(id: "0194", sequence: 10, kind: "trouble", input: nil, test: false, wall: "w"),
        .delivered(id: "0193", sequence: 9, destination: "central", wall: "w"),
        .watching(inputs: ["lobby", "door"]),
        .dropped(count: 3),
        .ready(input: "lobby", message: "press and release lobby now", timeoutSeconds: 30),
    ]

    @Test("every event survives JSON text and back unchanged", arguments: events)
    func roundTrip(_ e: ControlEvent) throws {
        let data = try JSONSerialization.data(withJSONObject: e.json)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(ControlEvent(json: object) == e)
        #expect(object["type"] as? String == e.type)
    }

    @Test("the wire names are the ones clients already read")
    func wireNames() {
        #expect(Self.events.map(\.type) == ["edge", "press", "release", "trouble", "trouble-cleared", "open-loop", "accepted", "accepted",
                                            "delivered", "watching", "dropped", "ready"])
    }

    @Test("an unknown type, a missing field or a field of the wrong kind is no event, never a crash")
    func hostile() {
        #expect(ControlEvent(json: ["type": "reboot"]) == nil)
        #expect(ControlEvent(json: [:]) == nil)
        #expect(ControlEvent(json: ["type": "edge", "input": "x", "level": "high", "mono_ns": 1, "read_latency_us": 1, "wall": "w"]) == nil)
        #expect(ControlEvent(json: ["type": "edge", "input": "x", "level": 1, "mono_ns": 1e300, "read_latency_us": 1, "wall": "w"]) == nil)
        #expect(ControlEvent(json: ["type": "dropped", "count": Double.nan]) == nil)
        #expect(ControlEvent(json: ["type": "watching", "inputs": [1, 2]]) == nil)
    }
}

@Suite("Monitor: a thread waits until the state says so, or a timeout passes")
struct MonitorTests {
    @Test("a waiter wakes when another thread makes the predicate true")
    func wakes() {
        let m = Monitor(0)
        let t = Thread { for _ in 0..<5 { m.update { $0 += 1 } } }
        t.start()
        let seen = m.wait(until: { $0 >= 5 }, timeout: .seconds(10)) { v, ready in ready ? v : -1 }
        #expect(seen == 5)
    }

    @Test("a timeout returns with ready false after about that long, not before")
    func timesOut() {
        let m = Monitor(false)
        let start = ContinuousClock.now
        let ready = m.wait(until: { $0 }, timeout: .milliseconds(50)) { _, ready in ready }
        #expect(!ready)
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }
}
