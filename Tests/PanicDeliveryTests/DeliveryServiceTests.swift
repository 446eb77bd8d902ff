import Foundation
import Logging
import PanicCore
import PanicDelivery
import PanicOutbox
import Testing

/// A channel that only records what it was asked and answers as told.
final class FakeChannel: DeliveryChannel, @unchecked Sendable {
    enum Call: Equatable {
        case deliver(Int64, DeliveryPath)
        case heartbeat
        case supervise(DeliveryPath)
        case probe
        case notice(restored: Bool, DeliveryPath)
    }

    let destination = "central"
    let kind = "fake"
    let target = "fake://receiver"
    let policy: DeliveryPolicy
    let clock: ManualClock
    private let answer: @Sendable (Call, WallTime) -> AttemptResult
    let calls = Locked<[(call: Call, at: WallTime)]>([])

    init(policy: DeliveryPolicy, clock: ManualClock, answer: @escaping @Sendable (Call, WallTime) -> AttemptResult) {
        self.policy = policy
        self.clock = clock
        self.answer = answer
    }

    private func record(_ c: Call) -> AttemptResult {
        let now = clock.wallNow()
        calls.mutate { $0.append((c, now)) }
        return answer(c, now)
    }

    func deliver(_ alert: PendingAlert, on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult { record(.deliver(alert.sequence, path)) }
    func heartbeat(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult { record(.heartbeat) }
    func supervise(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult { record(.supervise(path)) }
    func probe(clockOffset: Nanoseconds) async -> AttemptResult { record(.probe) }
    func sendNotice(_ notice: PathNotice, clockOffset: Nanoseconds) async -> AttemptResult { record(.notice(restored: notice.restored, notice.path)) }

    func count(_ match: (Call) -> Bool) -> Int { calls.value.filter { match($0.call) }.count }
}

/// A fresh outbox and a quiet delivery service over `channel` on the manual
/// clock, appending each delivered alert's sequence to `delivered`.
func manualService(_ channel: any DeliveryChannel, clock: ManualClock, sleeper: ManualSleeper,
                   delivered: Locked<[Int64]>) throws -> (Outbox, DeliveryService) {
    let dir = NSTemporaryDirectory() + "/delivery-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let outbox = try Outbox(path: dir + "/outbox.db", destinations: ["central"])
    var logger = Logger(label: "delivery-test")
    logger.logLevel = .critical
    let service = try DeliveryService(channel: channel, outbox: outbox, clock: clock, logger: logger, sleeper: sleeper, random: { 0.5 },
                                      onDelivered: { p, _ in delivered.mutate { $0.append(p.sequence) } })
    return (outbox, service)
}

/// Accepts alerts of `kinds` now and tells the service, as the writer does.
func acceptNow(_ kinds: [AlertKind], outbox: Outbox, service: DeliveryService, clock: ManualClock) throws -> [Alert] {
    let now = clock.wallNow()
    let a = try outbox.accept(kinds.map { AlertDraft(kind: $0, occurredAt: now, clockSynchronized: true) }, gatewayID: "gw", site: "s", at: now)
    service.alertsAccepted(urgent: a.contains { $0.priority == .alarm })
    return a
}

/// An outbox, a manual clock and a delivery service over a fake channel,
/// run until the service waits past `hours` of virtual time.
struct VirtualDay {
    let clock = ManualClock()
    let start: WallTime
    let outbox: Outbox
    let channel: FakeChannel
    let sleeper: ManualSleeper
    let service: DeliveryService
    let delivered = Locked<[Int64]>([])

    init(policy: DeliveryPolicy, hours: Int64, answer: @escaping @Sendable (FakeChannel.Call, WallTime) -> AttemptResult) throws {
        start = clock.wallNow()
        channel = FakeChannel(policy: policy, clock: clock, answer: answer)
        sleeper = ManualSleeper(clock: clock, stopAt: start + .seconds(hours * 3600))
        (outbox, service) = try manualService(channel, clock: clock, sleeper: sleeper, delivered: delivered)
    }

    func accept(_ kinds: [AlertKind]) throws -> [Alert] { try acceptNow(kinds, outbox: outbox, service: service, clock: clock) }

    /// Runs the service until it waits past the end; returns the real time taken.
    func run() async -> Duration {
        let t0 = ContinuousClock.now
        let s = service
        let task = Task { try? await s.run() }
        await sleeper.finished()
        task.cancel()
        await task.value
        return ContinuousClock.now - t0
    }

    func hoursIn(_ at: WallTime) -> Double { Double((at - start).value) / 3.6e12 }
}

@Suite("The delivery service on a manual clock: days in milliseconds", .serialized)
struct DeliveryServiceTests {
    static let backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(30), jitter: 0.5)

    @Test("a day: the receiver down for 12 hours, then up — back-off at the cap, heartbeats at their interval, every alert delivered in order once")
    func dayOfOutage() async throws {
        let policy = DeliveryPolicy(backoff: Self.backoff, heartbeatInterval: .seconds(60), clockTolerance: .seconds(5))
        let clock = ManualClock()
        let downUntil = clock.wallNow() + .seconds(12 * 3600)
        let day = try VirtualDay(policy: policy, hours: 24) { call, now in
            if now < downUntil { return .failed("connection refused", cause: "unreachable") }
            return .delivered
        }
        // The fake's clock and the day's must be one: move the day's to the same start.
        #expect(day.clock.wallNow() == clock.wallNow())
        let accepted = try day.accept([.panic, .sensor, .duress])
        let took = await day.run()

        let calls = day.channel.calls.value
        let deliveries = calls.filter { if case .deliver = $0.call { true } else { false } }
        let failed = deliveries.filter { $0.at < downUntil }
        // 12 h at a 30 s cap with equal jitter (random 0.5 → 22.5 s): ~1,920 tries, not a hot loop, never fewer than the cap allows.
        #expect(failed.count > 12 * 3600 / 30 && failed.count < 12 * 3600 / 15, "\(failed.count) tries in 12 h")
        let gaps = zip(failed.dropFirst(), failed).map { ($0.at - $1.at) }
        #expect(gaps.allSatisfy { $0 <= .seconds(30) }, "no wait beyond the cap")
        // Delivered once each, alarms first, within one back-off of the receiver's return.
        #expect(day.delivered.value == [accepted[0].sequence, accepted[2].sequence, accepted[1].sequence])
        let firstOK = try #require(deliveries.first { $0.at >= downUntil })
        #expect(firstOK.at - downUntil <= .seconds(30))
        #expect(try day.outbox.pending(destination: "central").isEmpty)
        // Heartbeats every 60 s for the whole day, through the outage.
        let beats = calls.filter { $0.call == .heartbeat }
        #expect(beats.count >= 24 * 60 && beats.count <= 24 * 60 + 1, "\(beats.count) heartbeats")
        #expect(zip(beats.dropFirst(), beats).allSatisfy { $0.at - $1.at == .seconds(60) })
        #expect(day.service.status.consecutiveFailures == 0 && day.service.status.delivered == 3)
        print("a virtual day: \(deliveries.count) delivery attempts, \(beats.count) heartbeats in \(took)")
    }

    @Test("an alarm arriving during a back-off cuts it short; a telemetry alert does not", arguments: [AlertKind.panic, .sensor])
    func alarmCutsBackoff(arrives: AlertKind) async throws {
        let policy = DeliveryPolicy(backoff: Backoff(initial: .seconds(10), maximum: .seconds(600), jitter: 0))
        let t0 = ManualClock().wallNow()
        // Set after the day is made: the first attempt fails, and the new alert arrives while it is being made.
        let arrival = Locked<(@Sendable () -> Void)?>(nil)
        let day = try VirtualDay(policy: policy, hours: 1) { _, _ in
            let hook: (@Sendable () -> Void)? = arrival.mutate { h in defer { h = nil }; return h }
            guard let hook else { return .delivered }
            hook()
            return .failed("down", cause: "unreachable")
        }
        let first = try day.accept([.sensor])
        arrival.value = { _ = try? day.accept([arrives]) }
        _ = await day.run()
        let deliveries = day.channel.calls.value.filter { if case .deliver = $0.call { true } else { false } }
        #expect(deliveries.count == 3)
        // The second attempt: at once for an alarm (which goes first), after the 10 s back-off for telemetry.
        #expect(deliveries[1].at == (arrives == .panic ? t0 : t0 + .seconds(10)))
        if arrives == .panic {
            #expect(!day.sleeper.waits.contains { $0.wakeOn == .alarms }, "the alarm waited out a back-off: \(day.sleeper.waits)")
        } else {
            #expect(day.sleeper.waits.first == .init(from: t0, until: t0 + .seconds(10), wakeOn: .alarms))
        }
        #expect(day.delivered.value.first == (arrives == .panic ? first[0].sequence + 1 : first[0].sequence))
    }

    @Test("DC-09-like: supervision every 5 minutes of silence for a day, and nothing else")
    func daySupervised() async throws {
        let policy = DeliveryPolicy(backoff: Self.backoff, hasBackup: false, supervisionInterval: .seconds(300))
        let day = try VirtualDay(policy: policy, hours: 24) { _, _ in .delivered }
        _ = await day.run()
        let calls = day.channel.calls.value
        #expect(calls.count == 24 * 12 && calls.allSatisfy { $0.call == .supervise(.primary) }, "\(calls.count) calls")
        #expect(zip(calls.dropFirst(), calls).allSatisfy { $0.at - $1.at == .seconds(300) })
    }

    @Test("primary down for 6 hours with a backup: alerts and the trouble notice over the backup, probes at the cap, restore over the primary")
    func failoverDay() async throws {
        let policy = DeliveryPolicy(backoff: Backoff(initial: .seconds(1), maximum: .seconds(60), jitter: 0), hasBackup: true, failoverAfter: 2,
                                    supervisionInterval: .seconds(300))
        let clock = ManualClock()
        let primaryBack = clock.wallNow() + .seconds(6 * 3600)
        let day = try VirtualDay(policy: policy, hours: 8) { call, now in
            switch call {
            case .deliver(_, .primary), .supervise(.primary), .probe, .notice(_, .primary):
                return now < primaryBack ? .failed("no reply", cause: "timeout") : .delivered
            default: return .delivered
            }
        }
        let a = try day.accept([.panic])
        _ = await day.run()
        let calls = day.channel.calls.value.map(\.call)
        #expect(Array(calls.prefix(4)) == [.deliver(a[0].sequence, .primary), .deliver(a[0].sequence, .primary),
                                           .deliver(a[0].sequence, .backup), .notice(restored: false, .backup)])
        let probes = day.channel.calls.value.filter { $0.call == .probe }
        // Backing off to the 60 s cap: about one a minute for 6 hours.
        #expect(probes.count > 6 * 60 - 10 && probes.count < 6 * 60 + 10, "\(probes.count) probes")
        #expect(calls.contains(.notice(restored: true, .primary)))
        #expect(day.service.status.activePath == .primary && !day.service.status.communicationsTrouble)
        #expect(day.delivered.value == [a[0].sequence])
    }

    @Test("an alarm accepted while a heartbeat hangs is delivered at once: heartbeats never hold the queue")
    func alarmCutsAHangingHeartbeat() async throws {
        let policy = DeliveryPolicy(backoff: Self.backoff, heartbeatInterval: .seconds(60))
        let hanging = Locked(true)
        let day = try VirtualDay(policy: policy, hours: 1) { call, _ in
            .delivered
        }
        // A channel whose first heartbeat hangs until cancelled.
        let channel = HangingHeartbeatChannel(inner: day.channel, hanging: hanging)
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let delivered = Locked<[Int64]>([])
        let service = try DeliveryService(channel: channel, outbox: day.outbox, clock: day.clock, logger: logger, sleeper: day.sleeper,
                                          random: { 0.5 }, onDelivered: { p, _ in delivered.mutate { $0.append(p.sequence) } })
        let task = Task { try? await service.run() }
        await channel.hangingStarted()
        let now = day.clock.wallNow()
        let a = try day.outbox.accept([AlertDraft(kind: .panic, occurredAt: now, clockSynchronized: true)], gatewayID: "gw", site: "s", at: now)
        service.alertsAccepted(urgent: true)
        await day.sleeper.finished()
        task.cancel()
        await task.value
        #expect(delivered.value == [a[0].sequence])
        // Delivered while the heartbeat was still out: heartbeats run beside the deliveries.
        #expect(channel.deliveredWhileHanging.value)
        #expect(day.channel.calls.value.first?.call == .deliver(a[0].sequence, .primary))
    }

    @Test("an acknowledgement that arrives after shutdown began is still recorded: the alert is not sent again")
    func ackDuringShutdownIsKept() async throws {
        let policy = DeliveryPolicy(backoff: Self.backoff)
        let day = try VirtualDay(policy: policy, hours: 1) { _, _ in .delivered }
        let channel = SlowAckChannel(policy: policy)
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let service = try DeliveryService(channel: channel, outbox: day.outbox, clock: day.clock, logger: logger, sleeper: day.sleeper)
        let now = day.clock.wallNow()
        _ = try day.outbox.accept([AlertDraft(kind: .panic, occurredAt: now, clockSynchronized: true)], gatewayID: "gw", site: "s", at: now)
        let task = Task { try? await service.run() }
        await channel.attemptStarted()
        task.cancel()                  // shutdown begins while the frame is out
        channel.acknowledge()          // ... and then the receiver's ACK comes in
        await task.value
        #expect(try day.outbox.pending(destination: "central").isEmpty, "the acknowledged alert is still pending: it would be sent again")
    }
}

/// Forwards to a fake channel, but its first heartbeat hangs until cancelled.
final class HangingHeartbeatChannel: DeliveryChannel, @unchecked Sendable {
    let inner: FakeChannel
    let hanging: Locked<Bool>
    private let started = Locked<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
    init(inner: FakeChannel, hanging: Locked<Bool>) { self.inner = inner; self.hanging = hanging }
    var destination: String { inner.destination }
    var kind: String { inner.kind }
    var target: String { inner.target }
    var policy: DeliveryPolicy { inner.policy }

    func hangingStarted() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = started.mutate { s in if s.done { return true }; s.waiter = c; return false }
            if now { c.resume() }
        }
    }

    let deliveredWhileHanging = Locked(false)
    private let inHeartbeat = Locked(false)

    func deliver(_ alert: PendingAlert, on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        if inHeartbeat.value { deliveredWhileHanging.value = true }
        return await inner.deliver(alert, on: path, clockOffset: clockOffset)
    }

    func heartbeat(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        if hanging.mutate({ h -> Bool in defer { h = false }; return h }) {
            inHeartbeat.value = true
            defer { inHeartbeat.value = false }
            let w = started.mutate { s -> CheckedContinuation<Void, Never>? in s.done = true; defer { s.waiter = nil }; return s.waiter }
            w?.resume()
            // Gives up after 2 s of real time (a request timeout), so that a
            // service that does not cut it short fails the test, not hangs it.
            let giveUp = ContinuousClock.now + .seconds(2)
            while !Task.isCancelled && ContinuousClock.now < giveUp { try? await Task.sleep(for: .milliseconds(5)) }
            return .failed("no answer", cause: "timeout")
        }
        return await inner.heartbeat(on: path, clockOffset: clockOffset)
    }
}

/// A channel whose one delivery answers only when the test says so,
/// whatever cancellation says: a receiver's ACK already on its way.
final class SlowAckChannel: DeliveryChannel, @unchecked Sendable {
    let destination = "central"
    let kind = "fake"
    let target = "fake://slow"
    let policy: DeliveryPolicy
    private let state = Locked<(started: Bool, startWaiter: CheckedContinuation<Void, Never>?, ack: CheckedContinuation<Void, Never>?, acked: Bool)>(
        (false, nil, nil, false))
    init(policy: DeliveryPolicy) { self.policy = policy }

    func attemptStarted() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = state.mutate { s in if s.started { return true }; s.startWaiter = c; return false }
            if now { c.resume() }
        }
    }

    func acknowledge() {
        let c = state.mutate { s -> CheckedContinuation<Void, Never>? in s.acked = true; defer { s.ack = nil }; return s.ack }
        c?.resume()
    }

    func deliver(_ alert: PendingAlert, on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let (w, now): (CheckedContinuation<Void, Never>?, Bool) = state.mutate { s in
                s.started = true
                defer { s.startWaiter = nil }
                if s.acked { return (s.startWaiter, true) }
                s.ack = c
                return (s.startWaiter, false)
            }
            w?.resume()
            if now { c.resume() }
        }
        return .delivered
    }
}
