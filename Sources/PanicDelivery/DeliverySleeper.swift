import PanicCore

/// How the delivery service waits: on the real clock in the daemon, on a
/// `ManualClock` in tests (a day of back-off in milliseconds).
public protocol DeliverySleeper: Sendable {
    /// Waits until `clock` reads `deadline`, or until `wakeup` is signalled in
    /// a way `wakeOn` admits, or the task is cancelled. Returns whether an
    /// urgent signal (alarms) ended the wait.
    func wait(until deadline: WallTime, clock: any GatewayClock, wakeup: Wakeup, wakeOn: DeliveryState.WakeOn) async -> Bool

    /// Called before each wait while work runs beside the loop (a heartbeat
    /// out): a manual clock lets it finish (or a signal come) before time
    /// moves; the real clock does not wait for it.
    func settle(while busy: @Sendable () -> Bool, wakeup: Wakeup) async
}

extension DeliverySleeper {
    public func settle(while busy: @Sendable () -> Bool, wakeup: Wakeup) async {}
}

/// Waits in real time.
public struct RealSleeper: DeliverySleeper {
    public init() {}

    /// A wall clock stepped back during the wait does not lengthen it: it
    /// ends no later than its length at the start, on the monotonic clock.
    public func wait(until deadline: WallTime, clock: any GatewayClock, wakeup: Wakeup, wakeOn: DeliveryState.WakeOn) async -> Bool {
        let limit = ContinuousClock.now + .nanoseconds(max(0, (deadline - clock.wallNow()).value))
        while !Task.isCancelled {
            let wallLeft = Duration.nanoseconds((deadline - clock.wallNow()).value)
            let timeout = min(wallLeft, limit - ContinuousClock.now)
            if timeout <= .zero { return false }
            switch wakeOn {
            case .anyAlert:
                return await wakeup.wait(timeout: timeout)
            case .alarms:
                if await wakeup.wait(timeout: timeout) { return true }
            case .nothing:
                try? await Task.sleep(for: timeout)
            }
        }
        return false
    }
}

/// Waits on a `ManualClock` by moving it: a wait that no signal ends sets
/// the clock to its deadline at once. Records every wait, so tests can
/// assert the schedule. Past `stopAt` it reports `finished` and then waits
/// (cancellably) for the test to stop the service.
public final class ManualSleeper: DeliverySleeper, @unchecked Sendable {
    public struct Wait: Sendable, Equatable {
        public var from: WallTime
        public var until: WallTime
        public var wakeOn: DeliveryState.WakeOn
        public init(from: WallTime, until: WallTime, wakeOn: DeliveryState.WakeOn) {
            self.from = from
            self.until = until
            self.wakeOn = wakeOn
        }
    }

    private let manual: ManualClock
    private let stopAt: WallTime
    private let state = Locked<(waits: [Wait], finished: Bool, waiter: CheckedContinuation<Void, Never>?)>(([], false, nil))

    public init(clock: ManualClock, stopAt: WallTime) {
        self.manual = clock
        self.stopAt = stopAt
    }

    /// Every wait so far, in order.
    public var waits: [Wait] { state.value.waits }

    /// Virtual time does not move while work beside the loop is out, unless
    /// a signal is waiting (that is taken by the wait) — at most 5 s of real time.
    public func settle(while busy: @Sendable () -> Bool, wakeup: Wakeup) async {
        let giveUp = ContinuousClock.now + .seconds(5)
        while busy() && !wakeup.isPending && ContinuousClock.now < giveUp { await Task.yield() }
    }

    /// Returns once the service waits past `stopAt`.
    public func finished() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = state.mutate { s in
                if s.finished { return true }
                s.waiter = c
                return false
            }
            if now { c.resume() }
        }
    }

    public func wait(until deadline: WallTime, clock: any GatewayClock, wakeup: Wakeup, wakeOn: DeliveryState.WakeOn) async -> Bool {
        let now = manual.wallNow()
        state.mutate { $0.waits.append(Wait(from: now, until: deadline, wakeOn: wakeOn)) }
        if wakeOn != .nothing {
            let (signalled, urgent) = wakeup.take()
            if signalled && (urgent || wakeOn == .anyAlert) { return urgent }
        }
        if deadline > stopAt {
            let w: CheckedContinuation<Void, Never>? = state.mutate { s in
                s.finished = true
                let w = s.waiter
                s.waiter = nil
                return w
            }
            w?.resume()
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            return false
        }
        if deadline > now { manual.advance(by: deadline - now) }
        await Task.yield()
        return false
    }
}
