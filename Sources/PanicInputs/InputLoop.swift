import Foundation
import Logging
import PanicCore
import PanicPlatform

/// What the loop reports. The sink receiving these runs on the loop thread
/// and must not block: hand the event on and return.
public enum InputLoopEvent: Sendable {
    /// A raw edge as read, before debounce (for live views): the source's
    /// stamp and when the loop read it, both CLOCK_MONOTONIC.
    case edge(input: Int, asserted: Bool, at: MonotonicInstant, readAt: MonotonicInstant)
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

/// One dedicated thread, one epoll set: every device's descriptor, a timerfd
/// for the earliest deadline (debounce, source retries and polls), and an
/// eventfd to stop or poke. No polling loops, no sleeps; the loop never
/// touches disk or network.
public final class InputLoop: @unchecked Sendable {
    /// One source feeding one or more inputs (a Modbus bus, a box of buttons).
    public struct Device {
        public var source: any InputSource
        /// Indices into the loop's inputs, by the source's port number.
        public var inputs: [Int]
        public init(source: any InputSource, inputs: [Int]) {
            self.source = source
            self.inputs = inputs
        }
    }

    /// One source, one input: the common case.
    public struct Channel {
        public var spec: InputSpec
        public var source: any InputSource
        public init(spec: InputSpec, source: any InputSource) {
            self.spec = spec
            self.source = source
        }
    }

    /// The inputs, shared with the writer and the control socket.
    public let table: InputTable
    private var specs: [InputSpec]
    private var devices: [Device]
    private var debouncers: [Debouncer]
    /// Where the loop thread is, for the threads that wait on it.
    private struct Phases {
        var started = false
        var finished = false
        /// Devices handed over by a reload, not yet applied, and its ticket.
        var pending: (devices: [Device], ticket: Int)?
        /// Tickets handed out, and the highest applied.
        var requested = 0
        var applied = 0
    }
    private let phases = Monitor(Phases())
    private let clock: any GatewayClock
    private let logger: Logger
    private let sink: @Sendable (InputLoopEvent) -> Void
    private let epoll: Epoll
    private let timer: MonotonicTimer
    private let wake: EventCounter
    private var thread: Thread?
    private let stateLock = Mutex()
    private var stopping = false
    private var snapshots: [InputSnapshot]
    private var iterationCount: UInt64 = 0
    /// The descriptor of each device currently in the epoll set, or -1.
    private var registered: [Int32]
    /// Per input: when an open loop becomes tamper, and whether it has.
    private var openLoopDue: [MonotonicInstant?]
    private var openLoopSince: [MonotonicInstant?]
    private var openLoopReported: [Bool]

    private static let timerToken: UInt64 = .max
    private static let wakeToken: UInt64 = .max - 1

    /// How long after a debounce deadline the loop waits before deciding.
    /// The kernel stamps an edge in its interrupt handler but may make it
    /// readable a little later; closing a train the instant its window ends
    /// could split one bouncy press in two when an edge stamped inside the
    /// window is still on its way. Presses in `immediate` mode are not delayed.
    public static let settleGrace = Nanoseconds.milliseconds(5)

    public convenience init(inputs: [InputSpec], devices: [Device], clock: any GatewayClock, logger: Logger,
                            sink: @escaping @Sendable (InputLoopEvent) -> Void) throws(SystemError) {
        try self.init(table: InputTable(inputs), devices: devices, clock: clock, logger: logger, sink: sink)
    }

    public init(table: InputTable, devices: [Device], clock: any GatewayClock, logger: Logger,
                sink: @escaping @Sendable (InputLoopEvent) -> Void) throws(SystemError) {
        let inputs = table.all
        self.table = table
        self.specs = inputs
        self.devices = devices
        self.debouncers = inputs.map { Debouncer(settings: $0.debounce) }
        self.clock = clock
        self.logger = logger
        self.sink = sink
        self.epoll = try Epoll()
        self.timer = try MonotonicTimer()
        self.wake = try EventCounter()
        self.snapshots = inputs.map { InputSnapshot(name: $0.name, pressed: false, trouble: nil) }
        self.registered = Array(repeating: -1, count: devices.count)
        self.openLoopDue = Array(repeating: nil, count: inputs.count)
        self.openLoopSince = Array(repeating: nil, count: inputs.count)
        self.openLoopReported = Array(repeating: false, count: inputs.count)
        try epoll.add(timer.fd, token: Self.timerToken)
        try epoll.add(wake.fd, token: Self.wakeToken)
    }

    public convenience init(channels: [Channel], clock: any GatewayClock, logger: Logger,
                            sink: @escaping @Sendable (InputLoopEvent) -> Void) throws(SystemError) {
        try self.init(
            inputs: channels.map(\.spec),
            devices: channels.enumerated().map { Device(source: $0.element.source, inputs: [$0.offset]) },
            clock: clock, logger: logger, sink: sink)
    }

    /// Current state of every input.
    public func snapshot() -> [InputSnapshot] { stateLock.withLock { snapshots } }

    /// Loop turns so far; a watchdog checks that it moves.
    public var iterations: UInt64 { stateLock.withLock { iterationCount } }

    /// Makes the loop turn once (a liveness probe for the watchdog).
    public func poke() { wake.signal() }

    /// Replaces the devices after a configuration reload, on the loop's own
    /// thread, and returns once done. Sources present in both lists keep
    /// their descriptors; inputs whose debounce and contact are unchanged
    /// keep their debounce state. The table must already hold the new specs.
    public func reconfigure(devices new: [Device]) {
        let ticket: Int = phases.update { p in
            p.requested += 1
            p.pending = (new, p.requested)
            return p.requested
        }
        wake.signal()
        phases.wait(until: { $0.applied >= ticket || $0.finished }) { _, _ in }
    }

    private func applyPending() {
        // Taken at once: a newer hand-over during this one waits its turn.
        guard let (new, ticket) = phases.update({ p -> ([Device], Int)? in
            defer { p.pending = nil }
            return p.pending.map { ($0.devices, $0.ticket) }
        }) else { return }
        let newSpecs = table.all
        for i in newSpecs.indices {
            if i >= specs.count {
                debouncers.append(Debouncer(settings: newSpecs[i].debounce))
                openLoopDue.append(nil)
                openLoopSince.append(nil)
                openLoopReported.append(false)
            } else if newSpecs[i].debounce != specs[i].debounce || newSpecs[i].contact != specs[i].contact {
                debouncers[i] = Debouncer(settings: newSpecs[i].debounce)
            }
        }
        stateLock.withLock {
            for i in newSpecs.indices where i >= snapshots.count { snapshots.append(InputSnapshot(name: newSpecs[i].name, pressed: false, trouble: nil)) }
        }
        specs = newSpecs
        let old = devices
        for d in old.indices where registered[d] >= 0 { epoll.remove(registered[d]) }
        devices = new
        registered = Array(repeating: -1, count: new.count)
        let kept = Set(old.map { ObjectIdentifier($0.source) }).intersection(new.map { ObjectIdentifier($0.source) })
        for d in devices.indices where !kept.contains(ObjectIdentifier(devices[d].source)) {
            devices[d].source.start { handle($0, device: d) }
        }
        touched = Set(devices.indices)
        settleDeadlines()
        syncAll()
        phases.update { $0.applied = max($0.applied, ticket) }
    }


    /// Starts the loop thread and returns once every source has made its
    /// first attempt to open (so "ready" means the inputs are open, and a
    /// button held at start has been read).
    public func start() {
        let t = Thread { [self] in nameCurrentThread("input-loop"); self.run() }
        t.name = "input-loop"
        t.qualityOfService = .userInteractive
        thread = t
        t.start()
        phases.wait(until: { $0.started }) { _, _ in }
    }

    /// Stops the loop and waits for its thread to end.
    public func stop() {
        let wasRunning: Bool = stateLock.withLock {
            let r = !stopping && thread != nil
            stopping = true
            return r
        }
        wake.signal()
        if wasRunning { phases.wait(until: { $0.finished }) { _, _ in } }
    }

    private func run() {
        // `start()`, `stop()` and `reconfigure` wait for these; an early
        // return must not leave them waiting.
        defer { phases.update { $0.started = true; $0.finished = true } }
        var ready: [Epoll.Readiness] = []
        ready.reserveCapacity(64)
        for d in devices.indices {
            devices[d].source.start { handle($0, device: d) }
            touched.insert(d)
        }
        // Settling may open devices (hotplug found them at start): register
        // their descriptors before the first wait, or nothing wakes us for them.
        settleDeadlines()
        syncAll()
        phases.update { $0.started = true }
        while true {
            do {
                try epoll.wait(into: &ready)
            } catch {
                logger.critical("input loop: epoll_wait failed; inputs are no longer read", metadata: ["error": "\(error)"])
                return
            }
            stateLock.withLock { iterationCount &+= 1 }
            if !process(ready) { return }
            // Read whatever else became readable before deciding anything by
            // the clock: an unread edge may belong to a train about to close.
            var more: [Epoll.Readiness] = []
            for _ in 0..<4 {
                guard (try? epoll.wait(into: &more, timeoutMilliseconds: 0)) != nil, !more.isEmpty else { break }
                if !process(more) { return }
            }
            settleDeadlines()
            syncAll()
        }
    }

    /// Handles one batch of readiness reports; false when the loop must stop.
    private func process(_ ready: [Epoll.Readiness]) -> Bool {
        for r in ready {
            switch r.token {
            case Self.wakeToken:
                wake.drain()
                if stateLock.withLock({ stopping }) { return false }
                applyPending()
            case Self.timerToken:
                timer.acknowledge()
            default:
                let d = Int(r.token)
                guard d < devices.count else { continue }
                touched.insert(d)
                let source = devices[d].source
                if r.readable { source.readReady { handle($0, device: d) } }
                if r.hangup {
                    if registered[d] >= 0 { epoll.remove(registered[d]) }
                    registered[d] = -1
                    source.hangup { handle($0, device: d) }
                }
            }
        }
        return true
    }

    /// Devices whose source ran since the last sync: only they can have
    /// closed or opened a descriptor.
    private var touched = Set<Int>()

    /// Keeps the epoll set in step with the sources' current descriptors
    /// (a device unplugged and back, a chip that appeared). A source that
    /// closed and reopened within one call may get the same fd number back,
    /// which the kernel has already dropped from the set: so a touched
    /// device's fd is added again, and "already there" is fine.
    private func syncAll() {
        let devicesToSync = touched
        touched.removeAll(keepingCapacity: true)
        for d in devicesToSync where d < devices.count {
            let fd = devices[d].source.descriptor
            if fd != registered[d], registered[d] >= 0 { epoll.remove(registered[d]) }
            registered[d] = -1
            guard fd >= 0 else { continue }
            do {
                try epoll.add(fd, token: UInt64(d))
                registered[d] = fd
            } catch where error.errno == EEXIST {
                registered[d] = fd
            } catch {
                logger.error("input loop: cannot watch a device's descriptor", metadata: ["error": "\(error)"])
            }
        }
    }

    private func handle(_ event: SourceEvent, device d: Int) {
        let inputs = devices[d].inputs
        switch event {
        case .level(let asserted, let at):
            if let i = inputs.first { edge(i, asserted: asserted, at: at) }
        case .portLevel(let port, let asserted, let at):
            if inputs.indices.contains(port) { edge(inputs[port], asserted: asserted, at: at) }
        case .trouble(let cause):
            for i in inputs { trouble(i, cause: cause, cleared: false) }
        case .troubleCleared(let cause):
            for i in inputs { trouble(i, cause: cause, cleared: true) }
        case .portTrouble(let ports, let cause, let cleared):
            for p in ports where inputs.indices.contains(p) { trouble(inputs[p], cause: cause, cleared: cleared) }
        }
    }

    private func edge(_ i: Int, asserted: Bool, at: MonotonicInstant) {
        sink(.edge(input: i, asserted: asserted, at: at, readAt: clock.monotonicNow()))
        let pressed = specs[i].contact.pressed(lineAsserted: asserted)
        for d in debouncers[i].edge(pressed: pressed, at: at) { report(d, input: i) }
    }

    private func trouble(_ i: Int, cause: String, cleared: Bool) {
        stateLock.withLock { snapshots[i].trouble = cleared ? nil : cause }
        sink(.trouble(input: i, cause: cause, cleared: cleared))
    }

    private func report(_ d: DebounceDecision, input i: Int) {
        stateLock.withLock { snapshots[i].pressed = d.pressed }
        sink(.decision(input: i, d))
        guard let limit = specs[i].openLoopTamperAfter, specs[i].contact == .normallyClosed else { return }
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
        func consider(_ t: MonotonicInstant?) {
            if let t, earliest.map({ t < $0 }) ?? true { earliest = t }
        }
        for d in devices.indices {
            let source = devices[d].source
            if let at = source.wakeAt, at <= now {
                source.wake(now: now) { handle($0, device: d) }
                touched.insert(d)
            }
        }
        for d in devices.indices { consider(devices[d].source.wakeAt) }
        let settled = MonotonicInstant(nanoseconds: now.nanoseconds - Self.settleGrace.value)
        for i in debouncers.indices {
            if let d = debouncers[i].advance(to: settled, decidedAt: now) { report(d, input: i) }
            consider(debouncers[i].nextDeadline.map { $0 + Self.settleGrace })
            if let due = openLoopDue[i] {
                if due <= now {
                    openLoopDue[i] = nil
                    openLoopReported[i] = true
                    sink(.openLoop(input: i, since: openLoopSince[i] ?? due, cleared: false))
                } else {
                    consider(due)
                }
            }
        }
        do {
            try timer.arm(at: earliest?.nanoseconds)
        } catch {
            logger.critical("input loop: cannot arm the timer", metadata: ["error": "\(error)"])
        }
    }
}
