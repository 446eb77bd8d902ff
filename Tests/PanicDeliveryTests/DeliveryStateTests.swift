import PanicCore
import PanicDelivery
import Testing

/// Table-driven: each row is a sequence of results with the effects and the
/// next step expected after each, at explicit times.
@Suite("Delivery decisions: outcomes and times in, actions out")
struct DeliveryStateTests {
    static let t0 = WallTime(secondsSinceEpoch: 1_800_000_000)
    /// No jitter, so the schedule is exact: 100 ms, 200 ms, … capped at 10 s.
    static let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10), jitter: 0)
    static let https = DeliveryPolicy(backoff: backoff, clockTolerance: .seconds(5), maxClockCorrections: 1)
    static let dc09 = DeliveryPolicy(backoff: backoff, hasBackup: true, failoverAfter: 2, clockTolerance: .init(0), maxClockCorrections: 2)

    static let panic = DeliveryState.Head(sequence: 1, isAlarm: true)
    static let telemetry = DeliveryState.Head(sequence: 2, isAlarm: false)

    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var policy: DeliveryPolicy
        /// (offset from t0, result of delivering sequence 1 over the path the state chose, effects, the next step with `next` as head)
        var steps: [(at: Nanoseconds, result: AttemptResult, effects: [DeliveryState.Effect], next: DeliveryState.Step)]
        var head: DeliveryState.Head = DeliveryStateTests.panic
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "2xx: delivered, marked, the next alert goes at once", policy: https, steps: [
            (.init(0), .delivered, [.markDelivered(sequence: 1)], .deliver(sequence: 1, on: .primary)),
        ]),
        Row(name: "4xx: kept, postponed by the cap, trouble raised once; the queue is not held up", policy: https, steps: [
            (.init(0), .refused("HTTP 400: bad"), [.postpone(sequence: 1, until: t0 + .seconds(10), reason: "HTTP 400: bad"),
                                                 .troubleRaised(.refusing("HTTP 400: bad"))], .deliver(sequence: 1, on: .primary)),
            (.seconds(1), .refused("HTTP 400: bad"), [.postpone(sequence: 1, until: t0 + .seconds(11), reason: "HTTP 400: bad")],
             .deliver(sequence: 1, on: .primary)),
            (.seconds(2), .delivered, [.markDelivered(sequence: 1), .troubleCleared(.refusing("HTTP 400: bad"))], .deliver(sequence: 1, on: .primary)),
        ]),
        Row(name: "5xx, timeout, connection refused: exponential back-off to the cap; an alarm is not sent before it ends", policy: https, steps: [
            (.init(0), .failed("HTTP 503", cause: "server"), [.unreachable(path: .primary, failures: 1, retryAt: t0 + .milliseconds(100), reason: "HTTP 503")],
             .wait(until: t0 + .milliseconds(100), wakeOn: .alarms)),
            (.milliseconds(100), .failed("connect timeout", cause: "timeout"), [], .wait(until: t0 + .milliseconds(300), wakeOn: .alarms)),
            (.milliseconds(300), .failed("connection refused", cause: "unreachable"), [], .wait(until: t0 + .milliseconds(700), wakeOn: .alarms)),
            (.seconds(1), .delivered, [.markDelivered(sequence: 1), .reachableAgain(path: .primary, failuresBefore: 3)], .deliver(sequence: 1, on: .primary)),
        ]),
        Row(name: "a stale-signature refusal naming the receiver's time corrects once, then stands as a refusal", policy: https, steps: [
            (.init(0), .clockRefused(receiverTime: t0 + .seconds(3600), otherwise: "HTTP 401: stale"),
             [.postpone(sequence: 1, until: t0 + .seconds(10), reason: "HTTP 401: stale"), .troubleRaised(.refusing("HTTP 401: stale"))],
             .deliver(sequence: 1, on: .primary)),
        ]),
        Row(name: "Retry-After: paused that long, not cut short by alarms; a longer one is cut to the cap", policy: https, steps: [
            (.init(0), .throttled(.seconds(3), "HTTP 429: retry after 3 s"), [.throttled(until: t0 + .seconds(3), reason: "HTTP 429: retry after 3 s")],
             .wait(until: t0 + .seconds(3), wakeOn: .nothing)),
            (.seconds(3), .throttled(.seconds(86_400), "HTTP 503: retry after 86400 s"),
             [.throttled(until: t0 + .seconds(13), reason: "HTTP 503: retry after 86400 s")], .wait(until: t0 + .seconds(13), wakeOn: .nothing)),
        ]),
        Row(name: "DC-09 DUH or a bare NAK: a refusal like a 4xx", policy: dc09, steps: [
            (.init(0), .refused("DUH"), [.postpone(sequence: 1, until: t0 + .seconds(10), reason: "DUH"), .troubleRaised(.refusing("DUH"))],
             .deliver(sequence: 1, on: .primary)),
        ]),
        Row(name: "primary down, backup up: after failover_after failures the backup takes over and the trouble notice is owed to it", policy: dc09, steps: [
            (.init(0), .failed("no reply", cause: "unreachable"),
             [.unreachable(path: .primary, failures: 1, retryAt: t0 + .milliseconds(100), reason: "no reply")],
             .wait(until: t0 + .milliseconds(100), wakeOn: .alarms)),
            (.milliseconds(100), .failed("no reply", cause: "unreachable"), [.troubleRaised(.primaryUnreachable)],
             .deliver(sequence: 1, on: .backup)),
            (.milliseconds(150), .delivered, [.markDelivered(sequence: 1)], .deliver(sequence: 1, on: .backup)),
        ]),
    ]

    @Test("each outcome sequence gives the effects and the next step expected", arguments: rows)
    func row(_ row: Row) {
        var s = DeliveryState(policy: row.policy, now: Self.t0)
        #expect(s.next(now: Self.t0, head: row.head, nextDue: nil) == .deliver(sequence: 1, on: .primary))
        var path = DeliveryPath.primary
        for (i, step) in row.steps.enumerated() {
            let now = Self.t0 + step.at
            var result = step.result
            if case .clockRefused(let time, let otherwise) = result {
                // What the service does: correct while the state says so, then a refusal.
                var corrections = 0
                while s.clockRefused(on: path, receiverTime: time, now: now, corrections: corrections).retry { corrections += 1 }
                #expect(corrections == row.policy.maxClockCorrections, "row \(i): corrections")
                result = .refused(otherwise)
            }
            let effects = s.delivery(result, sequence: 1, on: path, now: now, random: 0)
            #expect(effects == step.effects, "step \(i)")
            let next = s.next(now: now, head: row.head, nextDue: nil)
            // A notice owed goes before a telemetry alert but after an alarm.
            #expect(next == step.next, "step \(i)")
            if case .deliver(_, let p) = next { path = p }
        }
    }

    @Test("an alarm arriving during the back-off cuts it short; a requested pause it does not")
    func alarmsCutBackoffShort() {
        var s = DeliveryState(policy: Self.https, now: Self.t0)
        _ = s.delivery(.failed("refused", cause: "unreachable"), sequence: 2, on: .primary, now: Self.t0, random: 0)
        #expect(s.next(now: Self.t0, head: Self.telemetry, nextDue: nil) == .wait(until: Self.t0 + .milliseconds(100), wakeOn: .alarms))
        s.alarmsArrived()
        #expect(s.next(now: Self.t0, head: Self.panic, nextDue: nil) == .deliver(sequence: 1, on: .primary))

        _ = s.delivery(.throttled(.seconds(5), "slow down"), sequence: 1, on: .primary, now: Self.t0, random: 0)
        s.alarmsArrived()
        #expect(s.next(now: Self.t0, head: Self.panic, nextDue: nil) == .wait(until: Self.t0 + .seconds(5), wakeOn: .nothing))
        #expect(s.next(now: Self.t0 + .seconds(5), head: Self.panic, nextDue: nil) == .deliver(sequence: 1, on: .primary))
    }

    @Test("a clock refusal within the tolerance is no clock problem; beyond it the offset is taken and sent again")
    func clockTolerance() {
        var s = DeliveryState(policy: Self.https, now: Self.t0)
        #expect(!s.clockRefused(on: .primary, receiverTime: Self.t0 + .seconds(3), now: Self.t0, corrections: 0).retry)
        let (retry, effects) = s.clockRefused(on: .primary, receiverTime: Self.t0 + .seconds(3600), now: Self.t0, corrections: 0)
        #expect(retry && effects == [.clockCorrected(path: .primary, offset: .seconds(3600))])
        #expect(s.clockOffset(.primary) == .seconds(3600) && s.clockOffset(.backup) == .init(0))
        // DC-09: any NAK time is taken, twice at most per frame.
        var d = DeliveryState(policy: Self.dc09, now: Self.t0)
        #expect(d.clockRefused(on: .backup, receiverTime: Self.t0 + .seconds(-1), now: Self.t0, corrections: 0).retry)
        #expect(d.clockRefused(on: .backup, receiverTime: Self.t0 + .seconds(-2), now: Self.t0, corrections: 1).retry)
        #expect(!d.clockRefused(on: .backup, receiverTime: Self.t0 + .seconds(-3), now: Self.t0, corrections: 2).retry)
        #expect(d.clockOffset(.backup) == .seconds(-2))
    }

    @Test("on the backup: the trouble notice first, probes of the primary back off, its answer owes the restore over it")
    func failoverAndRestore() {
        var s = DeliveryState(policy: Self.dc09, now: Self.t0)
        _ = s.delivery(.failed("x", cause: "unreachable"), sequence: 2, on: .primary, now: Self.t0, random: 0)
        let t1 = Self.t0 + .milliseconds(100)
        #expect(s.delivery(.failed("x", cause: "unreachable"), sequence: 2, on: .primary, now: t1, random: 0) == [.troubleRaised(.primaryUnreachable)])
        let notice = PathNotice(restored: false, path: .backup, occurredAt: t1)
        #expect(s.next(now: t1, head: Self.telemetry, nextDue: nil) == .sendNotice(notice))
        // An alarm goes before the notice.
        #expect(s.next(now: t1, head: Self.panic, nextDue: nil) == .deliver(sequence: 1, on: .backup))
        #expect(s.notice(.delivered, notice, now: t1, random: 0).isEmpty)
        #expect(s.next(now: t1, head: nil, nextDue: nil) == .wait(until: t1 + .milliseconds(100), wakeOn: .anyAlert))
        #expect(s.next(now: t1 + .milliseconds(100), head: nil, nextDue: nil) == .probePrimary)
        _ = s.probe(.failed("x", cause: "unreachable"), now: t1 + .milliseconds(100), random: 0)
        // Third primary failure: probe n = 2 → 200 ms.
        #expect(s.next(now: t1 + .milliseconds(100), head: nil, nextDue: nil) == .wait(until: t1 + .milliseconds(300), wakeOn: .anyAlert))
        let t2 = t1 + .milliseconds(300)
        #expect(s.probe(.delivered, now: t2, random: 0) == [.troubleCleared(.primaryUnreachable)])
        #expect(s.paths.active == .primary)
        #expect(s.next(now: t2, head: nil, nextDue: nil) == .sendNotice(PathNotice(restored: true, path: .primary, occurredAt: t2)))
        _ = s.notice(.refused("DUH"), PathNotice(restored: true, path: .primary, occurredAt: t2), now: t2, random: 0)
        #expect(!s.paths.inCommunicationsTrouble)
    }

    @Test("heartbeats go at their interval whatever the queue, in a back-off too; alarms go first")
    func heartbeats() {
        var p = Self.https
        p.heartbeatInterval = .seconds(30)
        var s = DeliveryState(policy: p, now: Self.t0)
        #expect(s.next(now: Self.t0, head: Self.panic, nextDue: nil) == .deliver(sequence: 1, on: .primary))
        #expect(s.next(now: Self.t0, head: Self.telemetry, nextDue: nil) == .heartbeat(on: .primary))
        s.heartbeatStarted(now: Self.t0); _ = s.heartbeat(.delivered, now: Self.t0)
        #expect(s.lastHeartbeatAcknowledged == Self.t0)
        #expect(s.next(now: Self.t0, head: nil, nextDue: nil) == .wait(until: Self.t0 + .seconds(30), wakeOn: .anyAlert))
        // Backing off for 10 s, with the heartbeat due within it.
        for i in 0..<10 { _ = s.delivery(.failed("down", cause: "unreachable"), sequence: 2, on: .primary, now: Self.t0 + .seconds(25), random: Double(i)) }
        #expect(s.next(now: Self.t0 + .seconds(25), head: Self.telemetry, nextDue: nil) == .wait(until: Self.t0 + .seconds(30), wakeOn: .alarms))
        #expect(s.next(now: Self.t0 + .seconds(30), head: Self.telemetry, nextDue: nil) == .heartbeat(on: .primary))
        s.heartbeatStarted(now: Self.t0 + .seconds(30)); _ = s.heartbeat(.failed("down", cause: "unreachable"), now: Self.t0 + .seconds(31))
        #expect(s.lastHeartbeatAcknowledged == Self.t0)
        #expect(s.paths.failures == 10, "a heartbeat's failure is not counted against the queue")
    }

    @Test("supervision: after its interval without an exchange, only when there is nothing to send")
    func supervision() {
        var p = Self.dc09
        p.supervisionInterval = .seconds(60)
        var s = DeliveryState(policy: p, now: Self.t0)
        #expect(s.next(now: Self.t0, head: nil, nextDue: nil) == .wait(until: Self.t0 + .seconds(60), wakeOn: .anyAlert))
        #expect(s.next(now: Self.t0 + .seconds(60), head: Self.telemetry, nextDue: nil) == .deliver(sequence: 2, on: .primary))
        _ = s.delivery(.delivered, sequence: 2, on: .primary, now: Self.t0 + .seconds(60), random: 0)
        // The delivery was an exchange: supervision counts from it.
        #expect(s.next(now: Self.t0 + .seconds(61), head: nil, nextDue: nil) == .wait(until: Self.t0 + .seconds(120), wakeOn: .anyAlert))
        #expect(s.next(now: Self.t0 + .seconds(120), head: nil, nextDue: nil) == .supervise(on: .primary))
        _ = s.supervision(.delivered, on: .primary, now: Self.t0 + .seconds(120), random: 0)
        #expect(s.lastHeartbeatAcknowledged == Self.t0 + .seconds(120))
        // A postponed alert due sooner is woken for.
        #expect(s.next(now: Self.t0 + .seconds(121), head: nil, nextDue: Self.t0 + .seconds(150)) == .wait(until: Self.t0 + .seconds(150), wakeOn: .anyAlert))
    }

    @Test("a day of failures never overflows: counts saturate, the delay stays at the cap")
    func longOutage() {
        var s = DeliveryState(policy: Self.https, now: Self.t0)
        var now = Self.t0
        for _ in 0..<10_000 {
            _ = s.delivery(.failed("down", cause: "unreachable"), sequence: 1, on: .primary, now: now, random: 0.5)
            guard case .wait(let until, .alarms) = s.next(now: now, head: Self.telemetry, nextDue: nil) else {
                Issue.record("not waiting")
                return
            }
            #expect(until - now <= .seconds(10))
            now = until
        }
        #expect(s.paths.failures == 10_000)
        #expect(s.backoffUntil == now)
    }

    @Test("an alert that cannot be sent is kept and retried at the cap, and says nothing about the path")
    func unsendable() {
        var p = Self.dc09
        p.supervisionInterval = .seconds(60)
        var s = DeliveryState(policy: p, now: Self.t0)
        _ = s.delivery(.failed("no reply", cause: "unreachable"), sequence: 1, on: .primary, now: Self.t0, random: 0)
        let effects = s.delivery(.unsendable("zone 1234 does not fit adm-cid"), sequence: 2, on: .primary, now: Self.t0 + .seconds(1), random: 0)
        #expect(effects == [.postpone(sequence: 2, until: Self.t0 + .seconds(11), reason: "zone 1234 does not fit adm-cid"),
                            .troubleRaised(.refusing("zone 1234 does not fit adm-cid"))])
        // The failure still counts, and supervision still counts from the start.
        #expect(s.paths.failures == 1 && s.paths.retryAt == Self.t0 + .milliseconds(100))
        #expect(s.lastExchange == Self.t0)
    }

    @Test("Retry-After: 0 still pauses the first back-off step: no hot loop")
    func retryAfterZero() {
        var s = DeliveryState(policy: Self.https, now: Self.t0)
        _ = s.delivery(.throttled(.init(0), "HTTP 429: retry after 0 s"), sequence: 1, on: .primary, now: Self.t0, random: 0)
        #expect(s.next(now: Self.t0, head: Self.panic, nextDue: nil) == .wait(until: Self.t0 + .milliseconds(100), wakeOn: .nothing))
    }

    @Test("a wall clock stepped back an hour does not stretch a back-off, a heartbeat or supervision beyond its interval")
    func clockSteppedBack() {
        var p = Self.https
        p.heartbeatInterval = .seconds(30)
        var s = DeliveryState(policy: p, now: Self.t0)
        s.heartbeatStarted(now: Self.t0); _ = s.heartbeat(.delivered, now: Self.t0)
        _ = s.delivery(.failed("down", cause: "unreachable"), sequence: 1, on: .primary, now: Self.t0, random: 0)
        let back = Self.t0 + .seconds(-3600)
        // Retry due at t0+100 ms by the old clock: at most the cap (10 s) from the new now.
        guard case .wait(let until, .alarms) = s.next(now: back, head: Self.panic, nextDue: nil) else {
            Issue.record("not waiting out the back-off")
            return
        }
        #expect(until - back <= .seconds(10))
        // Idle: the heartbeat (due t0+30 s by the old clock) within its 30 s interval of the new now.
        var idle = DeliveryState(policy: p, now: Self.t0)
        idle.heartbeatStarted(now: Self.t0); _ = idle.heartbeat(.delivered, now: Self.t0)
        guard case .wait(let next, .anyAlert) = idle.next(now: back, head: nil, nextDue: nil) else {
            Issue.record("not idle")
            return
        }
        #expect(next - back <= .seconds(30))
        var d = Self.dc09
        d.supervisionInterval = .seconds(60)
        let sup = DeliveryState(policy: d, now: Self.t0)
        guard case .wait(let due, .anyAlert) = sup.next(now: back, head: nil, nextDue: nil) else {
            Issue.record("not idle")
            return
        }
        #expect(due - back <= .seconds(60))
    }

    @Test("a heartbeat keeps its cadence from when it went out, whenever its answer comes")
    func heartbeatCadence() {
        var p = Self.https
        p.heartbeatInterval = .seconds(30)
        var s = DeliveryState(policy: p, now: Self.t0)
        s.heartbeatStarted(now: Self.t0 + .seconds(2))
        #expect(s.nextHeartbeatAt == Self.t0 + .seconds(32))
        _ = s.heartbeat(.delivered, now: Self.t0 + .seconds(9))
        #expect(s.nextHeartbeatAt == Self.t0 + .seconds(32) && s.lastHeartbeatAcknowledged == Self.t0 + .seconds(9))
    }

    @Test("status keeps showing the back-off an alarm cut short until the receiver answers")
    func backoffShownThroughAlarmRetry() {
        var s = DeliveryState(policy: Self.https, now: Self.t0)
        _ = s.delivery(.failed("down", cause: "unreachable"), sequence: 1, on: .primary, now: Self.t0, random: 0)
        s.alarmsArrived()
        #expect(s.backoffUntil == Self.t0 + .milliseconds(100))
        _ = s.delivery(.delivered, sequence: 1, on: .primary, now: Self.t0 + .seconds(1), random: 0)
        #expect(s.backoffUntil == nil)
    }
}
