#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import PanicCore
import PanicGatewayKit
import PanicInputs
import PanicPlatform
import ServiceLifecycle
import Testing

/// A notification socket like systemd's: AF_UNIX, SOCK_DGRAM, bound to a
/// path or an abstract name, read with a timeout.
private final class NotifyListener: @unchecked Sendable {
    let fd: Int32
    let path: String?
    /// The environment a child of systemd would see.
    let environment: [String: String]

    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let token = UUID().uuidString.prefix(8)
        var name: [UInt8]
        if abstract {
            let n = "panic-notify-test-\(token)"
            name = [0] + Array(n.utf8)
            path = nil
            environment = ["NOTIFY_SOCKET": "@" + n]
        } else {
            let p = NSTemporaryDirectory() + "/notify-\(token).sock"
            name = Array(p.utf8) + [0]
            path = p
            environment = ["NOTIFY_SOCKET": p]
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard rc == 0 else { close(fd); throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }

    /// The next datagram, or nil after `timeout`.
    func receive(timeout: Duration = .seconds(2)) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&pfd, 1, ms) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n < 0 ? nil : String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Every datagram already waiting.
    func drain() -> [String] {
        var all: [String] = []
        while let m = receive(timeout: .zero) { all.append(m) }
        return all
    }
}

/// Stands in for the input loop: a thread that blocks until poked, like
/// `epoll_wait` on the loop's eventfd, and counts a turn per wake-up. A
/// stalled loop stays stuck inside its turn and counts nothing more.
private final class FakeLoop: LoopLiveness, @unchecked Sendable {
    private let wake = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)
    private let state = Locked((turns: UInt64(0), stalled: false, pokes: 0))

    init() {
        Thread { [self] in
            while true {
                wake.wait()
                if state.value.stalled { gate.wait() }
                state.mutate { $0.turns &+= 1 }
            }
        }.start()
    }

    var iterations: UInt64 { state.value.turns }
    var pokes: Int { state.value.pokes }

    func poke() {
        state.mutate { $0.pokes += 1 }
        wake.signal()
    }

    /// The next turn gets stuck until `resume()`.
    func stall() { state.mutate { $0.stalled = true } }

    func resume() {
        state.mutate { $0.stalled = false }
        gate.signal()
    }
}

/// An input whose read can be jammed: `jam()` makes the descriptor readable
/// and the loop's next `readReady` block until `release()`, the way a driver
/// call that never returns would hold the real loop.
private final class JammingSource: InputSource, @unchecked Sendable {
    private let fds: [Int32]
    private let gate = DispatchSemaphore(value: 0)
    private let jammed = Locked(false)

    init() {
        var p: [Int32] = [0, 0]
        precondition(pipe(&p) == 0)
        fds = p
        _ = fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK)
    }

    deinit { fds.forEach { close($0) } }

    var descriptor: Int32 { fds[0] }

    func readReady(emit: (SourceEvent) -> Void) {
        if jammed.value { gate.wait() }
        var byte: UInt8 = 0
        while read(fds[0], &byte, 1) == 1 {}
    }

    func hangup(emit: (SourceEvent) -> Void) {}

    func jam() {
        jammed.value = true
        var byte: UInt8 = 1
        _ = write(fds[1], &byte, 1)
    }

    func release() {
        jammed.value = false
        gate.signal()
    }
}

private let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Keeps every log message in memory, for asserting what was said.
private struct CapturedLog: LogHandler {
    let messages: Locked<[(Logger.Level, String)]>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { messages.mutate { $0.append((event.level, "\(event.message)")) } }
}

@Suite("sd_notify over a real datagram socket")
struct SystemdNotifierTests {
    @Test("READY, STATUS, STOPPING and WATCHDOG arrive verbatim on a path socket")
    func pathSocket() throws {
        let listener = try NotifyListener(abstract: false)
        let notifier = SystemdNotifier(environment: listener.environment, logger: quiet)
        #expect(notifier.isEnabled)
        notifier.ready(status: "running: 2 inputs, 1 uplink")
        #expect(listener.receive() == "READY=1\nSTATUS=running: 2 inputs, 1 uplink")
        notifier.status("central: 3 pending")
        #expect(listener.receive() == "STATUS=central: 3 pending")
        notifier.watchdog()
        #expect(listener.receive() == "WATCHDOG=1")
        notifier.stopping()
        #expect(listener.receive() == "STOPPING=1")
        #expect(notifier.failures == 0)
    }

    @Test("an abstract @name socket works")
    func abstractSocket() throws {
        let listener = try NotifyListener(abstract: true)
        #expect(listener.environment["NOTIFY_SOCKET"]?.hasPrefix("@") == true)
        let notifier = SystemdNotifier(environment: listener.environment, logger: quiet)
        #expect(notifier.address == .abstract(String(listener.environment["NOTIFY_SOCKET"]!.dropFirst())))
        notifier.ready()
        #expect(listener.receive() == "READY=1")
        notifier.stopping(status: "stopping")
        #expect(listener.receive() == "STOPPING=1\nSTATUS=stopping")
    }

    @Test("RELOADING carries CLOCK_MONOTONIC in microseconds; a newline cannot start a new assignment")
    func reloading() throws {
        let listener = try NotifyListener(abstract: false)
        let notifier = SystemdNotifier(environment: listener.environment, logger: quiet)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let before = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        notifier.reloading(status: "reloading\nREADY=1")
        let lines = try #require(listener.receive()).split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0] == "RELOADING=1")
        let usec = try #require(UInt64(lines[1].dropFirst("MONOTONIC_USEC=".count)))
        #expect(lines[1].hasPrefix("MONOTONIC_USEC="))
        #expect(usec >= before && usec < before + 5_000_000)
        #expect(lines[2] == "STATUS=reloading READY=1")
    }

    @Test("without NOTIFY_SOCKET nothing is sent and nothing fails")
    func disabled() {
        let notifier = SystemdNotifier(environment: [:], logger: quiet)
        #expect(!notifier.isEnabled)
        notifier.ready()
        #expect(notifier.send(["READY=1"]) == false)
        #expect(notifier.failures == 0)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"], logger: quiet).isEnabled == false)
    }

    @Test("a missing socket is counted, not thrown")
    func missingSocket() {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/notify"], logger: quiet)
        notifier.ready()
        notifier.watchdog()
        #expect(notifier.failures == 2)
    }

    @Test("a full socket queue never blocks the sender")
    func neverBlocks() throws {
        let listener = try NotifyListener(abstract: false)
        let notifier = SystemdNotifier(environment: listener.environment, logger: quiet)
        let start = ContinuousClock.now
        var delivered = 0
        for _ in 0..<5000 {
            if notifier.send(["STATUS=flood"]) { delivered += 1 }
        }
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(delivered > 0)
        #expect(notifier.failures > 0, "the queue (net.unix.max_dgram_qlen) should have filled and the sends failed with EAGAIN")
        #expect(listener.receive() == "STATUS=flood")
    }

    @Test("WATCHDOG_USEC and WATCHDOG_PID")
    func watchdogSettings() {
        let me = getpid()
        #expect(WatchdogSettings.from(environment: [:]) == nil)
        #expect(WatchdogSettings.from(environment: ["WATCHDOG_USEC": "0"]) == nil)
        #expect(WatchdogSettings.from(environment: ["WATCHDOG_USEC": "junk"]) == nil)
        #expect(WatchdogSettings.from(environment: ["WATCHDOG_USEC": "20000000"])?.timeout == .seconds(20))
        #expect(WatchdogSettings.from(environment: ["WATCHDOG_USEC": "20000000"])?.checkInterval == .seconds(10))
        #expect(WatchdogSettings.from(environment: ["WATCHDOG_USEC": "1000", "WATCHDOG_PID": "\(me)"])?.timeout == .milliseconds(1))
        #expect(WatchdogSettings.from(environment: ["WATCHDOG_USEC": "1000", "WATCHDOG_PID": "\(me + 1)"]) == nil)
    }

    @Test("the state machine pings on progress, withholds on a stall, and says when the loop is back")
    func stateMachine() {
        var m = WatchdogStateMachine(iterations: 10)
        #expect(m.check(iterations: 11) == .ping)
        #expect(m.check(iterations: 11) == .withhold(consecutive: 1))
        #expect(m.check(iterations: 11) == .withhold(consecutive: 2))
        #expect(m.check(iterations: 12) == .pingAfterStall(missedChecks: 2))
        #expect(m.check(iterations: 13) == .ping)
        #expect(m.check(iterations: 13 &+ UInt64.max) == .ping, "wrapping counter still counts as progress")
    }

    @Test("the watchdog pings while an idle loop answers its pokes, stops when the loop stalls, resumes after, and announces STOPPING")
    func watchdogFollowsTheLoop() async throws {
        let listener = try NotifyListener(abstract: false)
        var env = listener.environment
        env["WATCHDOG_USEC"] = "200000"   // check every 100 ms
        env["WATCHDOG_PID"] = "\(getpid())"
        let notifier = SystemdNotifier(environment: env, logger: quiet)
        let loop = FakeLoop()
        let settings = try #require(WatchdogSettings.from(environment: env))
        let log = Locked<[(Logger.Level, String)]>([])
        let logger = Logger(label: "test", factory: { _ in CapturedLog(messages: log) })
        let watchdog = Watchdog(settings: settings, loop: loop, notifier: notifier, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: watchdog)], logger: quiet))
        let running = Task { try await group.run() }

        // Idle but alive: the loop turns only because the watchdog pokes it.
        try await Task.sleep(for: .milliseconds(1050))
        let healthy = listener.drain()
        #expect(healthy.count >= 3 && healthy.count <= 11, "about one ping per 100 ms check, got \(healthy.count)")
        #expect(healthy.allSatisfy { $0 == "WATCHDOG=1" })
        #expect(loop.pokes >= healthy.count)

        // Stuck: at most one ping for the turn made before the stall, then none.
        loop.stall()
        try await Task.sleep(for: .milliseconds(250))
        let settling = listener.drain()
        #expect(settling.count <= 2)
        try await Task.sleep(for: .milliseconds(600))
        #expect(listener.drain().isEmpty, "a stalled loop must stop the pings")

        // Unstuck: pings resume.
        loop.resume()
        try await Task.sleep(for: .milliseconds(600))
        #expect(listener.drain().filter { $0 == "WATCHDOG=1" }.count >= 1)

        await group.triggerGracefulShutdown()
        try await running.value
        let tail = listener.drain()
        #expect(tail.last == "STOPPING=1\nSTATUS=stopping")
        let said = log.value
        #expect(said.filter { $0.0 == .critical && $0.1.contains("withholding") }.count == 1, "one critical line per stall, not one per check")
        #expect(said.contains { $0.0 == .notice && $0.1.contains("turns again") })
    }

    @Test("without WATCHDOG_USEC the watchdog sends nothing and waits for shutdown")
    func watchdogDisabled() async throws {
        let listener = try NotifyListener(abstract: false)
        let notifier = SystemdNotifier(environment: listener.environment, logger: quiet)
        let loop = FakeLoop()
        let watchdog = Watchdog(settings: WatchdogSettings.from(environment: listener.environment), loop: loop, notifier: notifier, logger: quiet)
        let group = ServiceGroup(configuration: .init(services: [.init(service: watchdog)], logger: quiet))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(listener.drain().isEmpty)
        #expect(loop.pokes == 0)
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(listener.drain() == ["STOPPING=1\nSTATUS=stopping"])
    }

    @Test("the real InputLoop, idle, turns for the watchdog's pokes; jammed in a read, it gets no more pings")
    func realInputLoop() async throws {
        let listener = try NotifyListener(abstract: false)
        var env = listener.environment
        env["WATCHDOG_USEC"] = "200000"
        let notifier = SystemdNotifier(environment: env, logger: quiet)
        let source = JammingSource()
        let spec = InputSpec(name: "jam", kind: .panic, zone: 1, area: 1, contact: .normallyOpen,
                             debounce: .init(mode: .immediate, window: .milliseconds(20), hold: .milliseconds(100)))
        let loop = try InputLoop(channels: [.init(spec: spec, source: source)], clock: SystemClock(), logger: quiet) { _ in }
        loop.start()
        let watchdog = Watchdog(settings: WatchdogSettings.from(environment: env), loop: loop, notifier: notifier, logger: quiet,
                                announceStopping: false)
        let group = ServiceGroup(configuration: .init(services: [.init(service: watchdog)], logger: quiet))
        let running = Task { try await group.run() }

        // Pings every 100 ms while the loop answers; a loaded 2-core machine
        // may delay a few, so ask for 3 within 1.5 s (about 14 expected).
        try await Task.sleep(for: .milliseconds(1500))
        #expect(listener.drain().filter { $0 == "WATCHDOG=1" }.count >= 3, "an idle loop must still answer the pokes")

        source.jam()
        try await Task.sleep(for: .milliseconds(250))
        _ = listener.drain()
        let stuckAt = loop.iterations
        try await Task.sleep(for: .milliseconds(600))
        #expect(listener.drain().isEmpty, "a jammed loop must stop the pings")
        #expect(loop.iterations == stuckAt)

        source.release()
        try await Task.sleep(for: .milliseconds(600))
        #expect(listener.drain().filter { $0 == "WATCHDOG=1" }.count >= 1, "pings resume once the loop turns")

        await group.triggerGracefulShutdown()
        try await running.value
        loop.stop()
    }
}
