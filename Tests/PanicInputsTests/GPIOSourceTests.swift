import Foundation
import Logging
import PanicCore
import PanicInputs
import PanicPlatform
import Testing

/// A GPIO line stood in by a pipe: the test queues kernel-style edges and
/// pokes the pipe so epoll reports the fd readable, exactly as the real
/// line's event fd would.
final class FakeLine: GPIOLineHandle, @unchecked Sendable {
    let pipe = makePipe()
    private let lock = NSLock()
    private var queued: [GPIOEdge] = []
    var level: Bool
    var removed = false
    init(level: Bool) { self.level = level }
    var fd: Int32 { pipe.read }

    func push(_ edges: [GPIOEdge]) {
        lock.lock(); queued += edges; lock.unlock()
        send(pipe.write, "x")
    }

    func readEdges() throws(GPIOError) -> [GPIOEdge] {
        var buf = [UInt8](repeating: 0, count: 64)
        _ = read(pipe.read, &buf, 64)
        if removed { throw .removed(chip: "sim") }
        lock.lock(); defer { lock.unlock() }
        // The v1 uAPI hands over at most 16 per read; so does the fake.
        let batch = Array(queued.prefix(16))
        queued.removeFirst(batch.count)
        if !queued.isEmpty { send(pipe.write, "x") }
        return batch
    }

    func value() throws(GPIOError) -> Bool { level }
    func close() {}
}

/// Hands out scripted results: errors until a line is available.
final class FakeBackend: GPIOBackend, @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<FakeLine, GPIOError>]
    private(set) var requests = 0
    init(_ results: [Result<FakeLine, GPIOError>]) { self.results = results }
    func set(_ r: [Result<FakeLine, GPIOError>]) { lock.lock(); results = r; lock.unlock() }
    func request(_ request: GPIOLineRequest) throws(GPIOError) -> any GPIOLineHandle {
        lock.lock(); defer { lock.unlock() }
        requests += 1
        let r = results.count > 1 ? results.removeFirst() : results[0]
        switch r {
        case .success(let l): return l
        case .failure(let e): throw e
        }
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [InputLoopEvent] = []
    func add(_ e: InputLoopEvent) { lock.lock(); events.append(e); lock.unlock() }
    var all: [InputLoopEvent] { lock.lock(); defer { lock.unlock() }; return events }
    var decisions: [DebounceDecision] { all.compactMap { if case .decision(_, let d) = $0 { d } else { nil } } }
    var troubles: [(String, Bool)] { all.compactMap { if case .trouble(_, let c, let cleared) = $0 { (c, cleared) } else { nil } } }
    var openLoops: [Bool] { all.compactMap { if case .openLoop(_, _, let cleared) = $0 { cleared } else { nil } } }
}

@Suite("GPIO source", .serialized)
struct GPIOSourceTests {
    let clock = SystemClock()
    let logger = Logger(label: "test")
    let request = GPIOLineRequest(chip: "gpiochip0", line: .offset(4))

    func loop(_ backend: FakeBackend, spec s: InputSpec = spec("btn", mode: .stable), retry: Nanoseconds = .milliseconds(50), log: EventLog) throws -> InputLoop {
        let source = GPIOSource(name: s.name, request: request, backend: backend, clock: clock, logger: logger, retryInterval: retry)
        return try InputLoop(channels: [.init(spec: s, source: source)], clock: clock, logger: logger, sink: log.add)
    }

    @Test("a chattering contact (40 edges in 4 ms) is one press stamped at the kernel's first edge")
    func chatteringContact() throws {
        let line = FakeLine(level: false)
        let log = EventLog()
        let backend = FakeBackend([.success(line)])
        let l = try loop(backend, log: log)
        l.start()
        defer { l.stop() }
        #expect(eventually { backend.requests == 1 })
        let t0 = clock.monotonicNow().nanoseconds
        line.push((0..<40).map { GPIOEdge(at: .init(nanoseconds: t0 + Int64($0) * 100_000), rising: $0 % 2 == 0) } + [GPIOEdge(at: .init(nanoseconds: t0 + 4_000_000), rising: true)])
        #expect(eventually { log.decisions.count == 1 })
        #expect(log.decisions.first?.firstEdge.nanoseconds == t0)
        #expect(log.decisions.first?.edges == 41)
    }

    @Test("a button held down while the gateway starts raises its alert at start")
    func heldAtStart() throws {
        let line = FakeLine(level: true)
        let log = EventLog()
        let l = try loop(FakeBackend([.success(line)]), spec: spec("btn", mode: .immediate), log: log)
        l.start()
        defer { l.stop() }
        #expect(eventually { log.decisions.count == 1 })
        #expect(log.decisions.first?.pressed == true)
    }

    @Test("a missing chip is trouble once, retried until it appears, then cleared and read")
    func missingChipRetried() throws {
        let line = FakeLine(level: false)
        let backend = FakeBackend([.failure(.chipNotFound("gpiochip0"))])
        let log = EventLog()
        let l = try loop(backend, log: log)
        l.start()
        defer { l.stop() }
        #expect(eventually { backend.requests >= 3 })
        #expect(log.troubles.map(\.1) == [false])
        #expect(log.troubles.first?.0.contains("gpiochip0 not found") == true)
        backend.set([.success(line)])
        #expect(eventually { log.troubles.count == 2 })
        #expect(log.troubles.last?.1 == true)
        let t0 = clock.monotonicNow().nanoseconds
        line.push([GPIOEdge(at: .init(nanoseconds: t0), rising: true)])
        #expect(eventually { log.decisions.count == 1 })
    }

    @Test("a chip removed at run time raises trouble, and the line is read again when it returns")
    func chipRemoved() throws {
        let first = FakeLine(level: false), second = FakeLine(level: false)
        let backend = FakeBackend([.success(first)])
        let log = EventLog()
        let l = try loop(backend, log: log)
        l.start()
        defer { l.stop() }
        #expect(eventually { backend.requests == 1 })
        backend.set([.failure(.chipNotFound("gpiochip0")), .failure(.chipNotFound("gpiochip0")), .success(second)])
        first.removed = true
        first.push([])
        #expect(eventually { log.troubles.count == 2 })
        #expect(log.troubles.map(\.1) == [false, true])
        #expect(log.troubles.first?.0.contains("removed") == true)
        let t0 = clock.monotonicNow().nanoseconds
        second.push([GPIOEdge(at: .init(nanoseconds: t0), rising: true)])
        #expect(eventually { log.decisions.count == 1 })
    }

    @Test("hotplug's word that the chip is gone is trouble at once (6.1 does not wake a poll); its return reopens the line")
    func chipRemovedByHotplug() throws {
        let first = FakeLine(level: false), second = FakeLine(level: false)
        let backend = FakeBackend([.success(first)])
        let log = EventLog()
        // A chip given by path resolves to its node name ("null" here), as gpiochipN would.
        let source = GPIOSource(name: "btn", request: GPIOLineRequest(chip: "/dev/null", line: .offset(0)), backend: backend,
                                clock: clock, logger: logger, retryInterval: .seconds(30))
        let l = try InputLoop(channels: [.init(spec: spec("btn"), source: source)], clock: clock, logger: logger, sink: log.add)
        l.start()
        defer { l.stop() }
        #expect(backend.requests == 1)
        source.chipRemoved(node: "gpiochip9")
        l.poke()
        usleep(50_000)
        #expect(log.troubles.isEmpty, "another chip's removal is not ours")
        backend.set([.failure(.chipNotFound("/dev/null"))])
        source.chipRemoved(node: "null")
        l.poke()
        #expect(eventually { log.troubles.count == 1 })
        #expect(log.troubles.first?.0.contains("removed") == true)
        backend.set([.success(second)])
        source.chipAppeared()
        l.poke()
        #expect(eventually { log.troubles.count == 2 }, "back well before the 30 s retry")
        #expect(log.troubles.last?.1 == true)
    }

    @Test("a normally-closed loop left open past its limit is reported as tamper, and restored when it closes")
    func cutWire() throws {
        let line = FakeLine(level: true)
        let log = EventLog()
        var s = spec("loop", mode: .stable, contact: .normallyClosed)
        s.openLoopTamperAfter = .milliseconds(100)
        let l = try loop(FakeBackend([.success(line)]), spec: s, log: log)
        l.start()
        defer { l.stop() }
        let t0 = clock.monotonicNow().nanoseconds
        line.push([GPIOEdge(at: .init(nanoseconds: t0), rising: false)])
        #expect(eventually { log.openLoops == [false] })
        #expect(log.decisions.map(\.pressed) == [true])
        line.push([GPIOEdge(at: clock.monotonicNow(), rising: true)])
        #expect(eventually { log.openLoops == [false, true] })
    }
}

@Suite("Real libgpiod on a machine without GPIO chips")
struct LibgpiodHostTests {
    @Test("the library in use is reported, and no chips are listed where /dev has none")
    func apiAndListing() {
        #expect(LibgpiodBackend.api.hasPrefix("libgpiod "))
        #expect(GPIOChips.list().count == GPIOChips.paths().count)
    }

    @Test("a chip that does not exist is named in the error, by name and by path")
    func chipNotFound() {
        #expect(throws: GPIOError.chipNotFound("gpiochip97")) { try LibgpiodBackend().request(GPIOLineRequest(chip: "gpiochip97", line: .offset(0))) }
        #expect(throws: GPIOError.chipNotFound("/dev/gpiochip97")) { try LibgpiodBackend().request(GPIOLineRequest(chip: "/dev/gpiochip97", line: .offset(0))) }
        #expect(GPIOError.chipNotFound("gpiochip97").description == "GPIO chip gpiochip97 not found (looked for /dev/gpiochip97, gpiochip97 as a path, and the labels of /dev/gpiochip*)")
    }

    @Test("a device node that is not a GPIO chip is refused by libgpiod with a system error, not a crash")
    func notAChip() {
        do {
            _ = try LibgpiodBackend().request(GPIOLineRequest(chip: "/dev/null", line: .offset(0)))
            Issue.record("/dev/null accepted as a GPIO chip")
        } catch {
            #expect(error.description.hasPrefix("GPIO chip /dev/null"))
        }
    }

    @Test("permission denied names the node and the group that grants access")
    func permissionMessage() {
        let e = GPIOError.permissionDenied(node: "/dev/gpiochip0", group: GPIOChips.groupName(of: "/dev/null"))
        #expect(e.description == "permission denied opening /dev/gpiochip0; add the gateway's user to group \"root\" (the group that owns /dev/gpiochip0) or fix its udev rule")
    }

    @Test("a busy line names its current consumer")
    func busyMessage() {
        #expect(GPIOError.busy(chip: "gpiochip0", line: .offset(4), consumer: "gpiomon").description
                == "GPIO line 4 on gpiochip0 is in use by \"gpiomon\"; stop that consumer or choose another line")
    }
}
