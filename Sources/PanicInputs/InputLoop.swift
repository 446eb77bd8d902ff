import Foundation
import Logging
import PanicCore
import PanicPlatform

/// What the loop reports. The sink receiving these runs on the loop thread
/// and must not block: hand the event on and return.
public enum InputLoopEvent: Sendable {
    /// A raw edge as read, before debounce (for live views).
    case edge(input: Int, asserted: Bool, at: MonotonicInstant)
    /// A press or release decided by debounce.
    case decision(input: Int, DebounceDecision)
    /// Device trouble on an input, or its end.
    case trouble(input: Int, cause: String, cleared: Bool)
    /// A normally-closed loop open past its limit (cut wire), or closed again.
    case openLoop(input: Int, since: MonotonicInstant, cleared: Bool)
}

/// A snapshot of one input's state, safe to read from any thread.
public struct InputSnapshot: Sendable, Equatable {
    public var name: String
    public var pressed: Bool
    public var trouble: String?
}

/// One dedicated thread, one epoll set: every input's descriptor, a timerfd
/// for the earliest debounce deadline, and an eventfd to stop. No polling, no
/// sleeps; the loop never touches disk or network.
public final class InputLoop: @unchecked Sendable {
    public struct Channel {
        public var spec: InputSpec
        public var source: any InputSource
        public init(spec: InputSpec, source: any InputSource) {
            self.spec = spec
            self.source = source
        }
    }

    private var channels: [Channel]
    private var debouncers: [Debouncer]
    private let clock: any GatewayClock
    private let logger: Logger
    private let sink: @Sendable (InputLoopEvent) -> Void
    private let epoll: Epoll
    private let timer: MonotonicTimer
    private let wake: EventCounter
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private let stateLock = SpinLock()
    private var stopping = false
    private var snapshots: [InputSnapshot]
    private var iterationCount: UInt64 = 0
    /// The descriptor of each channel currently in the epoll set, or -1.
    private var registered: [Int32]
    /// Per input: when an open loop becomes tamper, and whether it has.
    private var openLoopDue: [MonotonicInstant?]
    private var openLoopSince: [MonotonicInstant?]
    private var openLoopReported: [Bool]

    private static let timerToken: UInt64 = .max
    private static let wakeToken: UInt64 = .max - 1

    public init(channels: [Channel], clock: any GatewayClock, logger: Logger, sink: @escaping @Sendable (InputLoopEvent) -> Void) throws(SystemError) {
        self.channels = channels
        self.debouncers = channels.map { Debouncer(settings: $0.spec.debounce) }
        self.clock = clock
        self.logger = logger
        self.sink = sink
        self.epoll = try Epoll()
        self.timer = try MonotonicTimer()
        self.wake = try EventCounter()
        self.snapshots = channels.map { InputSnapshot(name: $0.spec.name, pressed: false, trouble: nil) }
        self.registered = Array(repeating: -1, count: channels.count)
        self.openLoopDue = Array(repeating: nil, count: channels.count)
        self.openLoopSince = Array(repeating: nil, count: channels.count)
        self.openLoopReported = Array(repeating: false, count: channels.count)
        try epoll.add(timer.fd, token: Self.timerToken)
        try epoll.add(wake.fd, token: Self.wakeToken)
    }

    /// Keeps the epoll set in step with the source's current descriptor.
    private func sync(_ i: Int) {
        let fd = channels[i].source.descriptor
        guard fd != registered[i] else { return }
        if registered[i] >= 0 { epoll.remove(registered[i]) }
        registered[i] = -1
        guard fd >= 0 else { return }
        do {
            try epoll.add(fd, token: UInt64(i))
            registered[i] = fd
        } catch {
            logger.error("input loop: cannot watch the input's descriptor", metadata: ["input.name": "\(channels[i].spec.name)", "error": "\(error)"])
        }
    }

    /// Current state of every input.
    public func snapshot() -> [InputSnapshot] { stateLock.withLock { snapshots } }

    /// Loop turns so far; a watchdog can check it moves.
    public var iterations: UInt64 { stateLock.withLock { iterationCount } }

    /// Starts the loop thread.
    public func start() {
        let t = Thread { [self] in self.run() }
        t.name = "input-loop"
        t.qualityOfService = .userInteractive
        thread = t
        t.start()
    }

    /// Stops the loop and waits for its thread to end.
    public func stop() {
        let wasRunning: Bool = stateLock.withLock {
            let r = !stopping && thread != nil
            stopping = true
            return r
        }
        wake.signal()
        if wasRunning { finished.wait() }
    }

    private func run() {
        defer { finished.signal() }
        var ready: [Epoll.Readiness] = []
        ready.reserveCapacity(64)
        for i in channels.indices {
            channels[i].source.start { handle($0, input: i) }
            sync(i)
        }
        settleDeadlines()
        while true {
            do {
                try epoll.wait(into: &ready)
            } catch {
                logger.critical("input loop: epoll_wait failed; inputs are no longer read", metadata: ["error": "\(error)"])
                return
            }
            stateLock.withLock { iterationCount &+= 1 }
            for r in ready {
                switch r.token {
                case Self.wakeToken:
                    wake.drain()
                    if stateLock.withLock({ stopping }) { return }
                case Self.timerToken:
                    timer.acknowledge()
                default:
                    let i = Int(r.token)
                    guard i < channels.count else { continue }
                    let source = channels[i].source
                    if r.readable { source.readReady { handle($0, input: i) } }
                    if r.hangup {
                        if registered[i] >= 0 { epoll.remove(registered[i]) }
                        registered[i] = -1
                        source.hangup { handle($0, input: i) }
                    }
                    sync(i)
                }
            }
            settleDeadlines()
        }
    }

    private func handle(_ event: SourceEvent, input i: Int) {
        switch event {
        case .level(let asserted, let at):
            sink(.edge(input: i, asserted: asserted, at: at))
            let pressed = channels[i].spec.contact.pressed(lineAsserted: asserted)
            for d in debouncers[i].edge(pressed: pressed, at: at) { report(d, input: i) }
        case .trouble(let cause):
            stateLock.withLock { snapshots[i].trouble = cause }
            sink(.trouble(input: i, cause: cause, cleared: false))
        case .troubleCleared(let cause):
            stateLock.withLock { snapshots[i].trouble = nil }
            sink(.trouble(input: i, cause: cause, cleared: true))
        }
    }

    private func report(_ d: DebounceDecision, input i: Int) {
        stateLock.withLock { snapshots[i].pressed = d.pressed }
        sink(.decision(input: i, d))
        guard let limit = channels[i].spec.openLoopTamperAfter, channels[i].spec.contact == .normallyClosed else { return }
        if d.pressed {
            openLoopSince[i] = d.firstEdge
            openLoopDue[i] = d.firstEdge + limit
        } else {
            if openLoopReported[i], let since = openLoopSince[i] { sink(.openLoop(input: i, since: since, cleared: true)) }
            openLoopDue[i] = nil
            openLoopSince[i] = nil
            openLoopReported[i] = false
        }
    }

    /// Decides whatever fell due, wakes sources whose time came, and re-arms
    /// the timer for the next deadline.
    private func settleDeadlines() {
        let now = clock.monotonicNow()
        var earliest: MonotonicInstant?
        for i in channels.indices {
            let source = channels[i].source
            if let at = source.wakeAt, at <= now {
                source.wake(now: now) { handle($0, input: i) }
                sync(i)
            }
            if let at = source.wakeAt, earliest.map({ at < $0 }) ?? true { earliest = at }
        }
        for i in debouncers.indices {
            if let d = debouncers[i].advance(to: now) { report(d, input: i) }
            if let next = debouncers[i].nextDeadline, earliest.map({ next < $0 }) ?? true { earliest = next }
            if let due = openLoopDue[i] {
                if due <= now {
                    openLoopDue[i] = nil
                    openLoopReported[i] = true
                    sink(.openLoop(input: i, since: openLoopSince[i] ?? due, cleared: false))
                } else if earliest.map({ due < $0 }) ?? true {
                    earliest = due
                }
            }
        }
        do {
            try timer.arm(at: earliest?.nanoseconds)
        } catch {
            logger.critical("input loop: cannot arm the debounce timer", metadata: ["error": "\(error)"])
        }
    }
}
