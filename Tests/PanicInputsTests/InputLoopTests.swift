import Foundation
import Logging
import PanicCore
import PanicInputs
import PanicPlatform
import Testing

/// Collects what the loop reports, from the loop's thread.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [InputLoopEvent] = []
    func add(_ e: InputLoopEvent) { lock.lock(); events.append(e); lock.unlock() }
    var decisions: [DebounceDecision] {
        lock.lock(); defer { lock.unlock() }
        return events.compactMap { if case .decision(_, let d) = $0 { d } else { nil } }
    }
    var edges: Int {
        lock.lock(); defer { lock.unlock() }
        return events.filter { if case .edge = $0 { true } else { false } }.count
    }
}

func makePipe() -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
    return (fds[0], fds[1])
}

func send(_ fd: Int32, _ text: String) {
    _ = text.withCString { write(fd, $0, strlen($0)) }
}

func eventually(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { return false }
        usleep(1000)
    }
    return true
}

func spec(_ name: String, mode: DebounceSettings.Mode = .stable, contact: ContactType = .normallyOpen) -> InputSpec {
    InputSpec(name: name, kind: .panic, zone: 1, area: 1, contact: contact, debounce: .init(mode: mode, window: .milliseconds(20), hold: .milliseconds(100)))
}

@Suite("Input loop", .serialized)
struct InputLoopTests {
    let logger = Logger(label: "test")
    let clock = SystemClock()

    @Test("stamped edges through a pipe become one press and one release, decided by the timer with no further input")
    func decidesOnTimer() throws {
        let p = makePipe()
        let rec = Recorder()
        let loop = try InputLoop(channels: [.init(spec: spec("a"), source: PipeEdgeSource(name: "a", fd: p.read, clock: clock, logger: logger))],
                                 clock: clock, logger: logger, sink: rec.add)
        loop.start()
        defer { loop.stop(); close(p.write) }
        let t0 = clock.monotonicNow().nanoseconds
        send(p.write, "1 \(t0)\n0 \(t0 + 300_000)\n1 \(t0 + 700_000)\n")
        #expect(eventually { rec.decisions.count == 1 })
        let press = try #require(rec.decisions.first)
        #expect(press.pressed && press.firstEdge.nanoseconds == t0 && press.edges == 3)
        // Decided by the timerfd once the line was quiet for the window.
        #expect(press.decidedAt.nanoseconds >= t0 + 700_000 + 20_000_000)
        #expect(loop.snapshot().first?.pressed == true)
        let t1 = clock.monotonicNow().nanoseconds
        send(p.write, "0 \(t1)\n")
        #expect(eventually { rec.decisions.count == 2 })
        #expect(rec.decisions.last?.firstEdge.nanoseconds == t1)
    }

    @Test("a normally-closed contact is pressed when the line drops")
    func normallyClosed() throws {
        let p = makePipe()
        let rec = Recorder()
        let loop = try InputLoop(channels: [.init(spec: spec("nc", mode: .immediate, contact: .normallyClosed),
                                                  source: PipeEdgeSource(name: "nc", fd: p.read, clock: clock, logger: logger))],
                                 clock: clock, logger: logger, sink: rec.add)
        loop.start()
        defer { loop.stop(); close(p.write) }
        send(p.write, "1\n")
        usleep(50_000)
        #expect(rec.decisions.isEmpty, "closed loop at rest is not a press")
        send(p.write, "0\n")
        #expect(eventually { rec.decisions.count == 1 })
        #expect(rec.decisions.first?.pressed == true)
    }

    @Test("garbage, oversized lines and bad stamps are counted and ignored; good lines around them still count")
    func garbageIsIgnored() throws {
        let p = makePipe()
        let rec = Recorder()
        let source = PipeEdgeSource(name: "g", fd: p.read, clock: clock, logger: logger)
        let loop = try InputLoop(channels: [.init(spec: spec("g", mode: .immediate), source: source)], clock: clock, logger: logger, sink: rec.add)
        loop.start()
        defer { loop.stop(); close(p.write) }
        var junk = Array("hello\n".utf8) + [0x00, 0xff, 0xfe, 0x0a] + Array("2\n1 -5\n1 abc\n".utf8)
        junk += [UInt8](repeating: UInt8(ascii: "1"), count: 5000) + [0x0a] + Array("1\n".utf8)
        _ = junk.withUnsafeBytes { write(p.write, $0.baseAddress, $0.count) }
        #expect(eventually { rec.decisions.count == 1 })
        #expect(rec.edges == 1)
        #expect(source.rejectedLines == 6)
    }

    @Test("a flood on one input does not stall another")
    func floodDoesNotStall() throws {
        let flood = makePipe(), quiet = makePipe()
        let rec = Recorder()
        let loop = try InputLoop(channels: [
            .init(spec: spec("flood", mode: .immediate), source: PipeEdgeSource(name: "flood", fd: flood.read, clock: clock, logger: logger)),
            .init(spec: spec("quiet", mode: .immediate), source: PipeEdgeSource(name: "quiet", fd: quiet.read, clock: clock, logger: logger)),
        ], clock: clock, logger: logger, sink: rec.add)
        loop.start()
        defer { loop.stop(); close(flood.write); close(quiet.write) }
        let stop = Locked(false)
        let writer = Thread {
            let line = String(repeating: "x\n", count: 2000)
            while !stop.value { send(flood.write, line) }
        }
        writer.start()
        defer { stop.value = true }
        usleep(50_000)
        let before = clock.monotonicNow().nanoseconds
        send(quiet.write, "1\n")
        #expect(eventually(2) { rec.decisions.contains { $0.pressed } })
        let after = clock.monotonicNow().nanoseconds
        #expect(after - before < 500_000_000)
    }

    @Test("stop returns promptly and the thread ends")
    func stopIsPrompt() throws {
        let p = makePipe()
        let loop = try InputLoop(channels: [.init(spec: spec("s"), source: PipeEdgeSource(name: "s", fd: p.read, clock: clock, logger: logger))],
                                 clock: clock, logger: logger, sink: { _ in })
        loop.start()
        usleep(10_000)
        let start = Date()
        loop.stop()
        #expect(Date().timeIntervalSince(start) < 0.5)
        #expect(loop.iterations >= 1, "the stop signal woke the loop")
        close(p.write)
    }
}
