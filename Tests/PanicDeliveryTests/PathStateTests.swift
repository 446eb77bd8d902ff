import PanicCore
import PanicDelivery
import Testing

@Suite("Primary, backup and back-off decisions")
struct PathStateTests {
    static let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10), jitter: 0)
    let t0 = WallTime(secondsSinceEpoch: 1_800_000_000)

    @Test("without a backup, failures back off exponentially on the primary")
    func noBackup() {
        var s = PathState(hasBackup: false, failoverAfter: 2, backoff: Self.backoff)
        s.failed(on: .primary, now: t0, random: 0)
        #expect(s.retryAt == t0 + .milliseconds(100))
        s.failed(on: .primary, now: t0, random: 0)
        s.failed(on: .primary, now: t0, random: 0)
        #expect(s.retryAt == t0 + .milliseconds(400))
        #expect(s.active == .primary && s.owed == nil && s.failures == 3)
        s.answered(on: .primary, now: t0)
        #expect(s.retryAt == nil && s.failures == 0)
    }

    @Test("after failover_after failures the backup takes over at once and the trouble notice (DC-09: YS) is owed to it")
    func failover() {
        var s = PathState(hasBackup: true, failoverAfter: 2, backoff: Self.backoff)
        let first = s.failed(on: .primary, now: t0, random: 0)
        let second = s.failed(on: .primary, now: t0 + .seconds(1), random: 0)
        #expect(!first && second)
        #expect(s.active == .backup && s.retryAt == nil)
        #expect(s.owed == .init(restored: false, path: .backup, occurredAt: t0 + .seconds(1)))
        #expect(s.probePrimaryAt == t0 + .seconds(1) + .milliseconds(100))
        s.noticeSettled(restored: false)
        #expect(s.owed == nil && s.inCommunicationsTrouble)
    }

    @Test("probes of the primary back off; when it answers, it is used again and the restore notice (YK) is owed to it")
    func restore() {
        var s = PathState(hasBackup: true, failoverAfter: 1, backoff: Self.backoff)
        s.failed(on: .primary, now: t0, random: 0)
        s.answered(on: .backup, now: t0)
        s.noticeSettled(restored: false)
        #expect(!s.probeDue(t0) && s.probeDue(t0 + .milliseconds(100)))
        s.failed(on: .primary, now: t0 + .seconds(1), random: 0)
        #expect(s.probePrimaryAt == t0 + .seconds(1) + .milliseconds(200))
        #expect(s.active == .backup)
        s.answered(on: .primary, now: t0 + .seconds(2))
        #expect(s.active == .primary && s.probePrimaryAt == nil)
        #expect(s.owed == .init(restored: true, path: .primary, occurredAt: t0 + .seconds(2)))
        s.noticeSettled(restored: true)
        #expect(s.owed == nil && !s.inCommunicationsTrouble)
    }

    @Test("a primary back before YS went out owes nothing: no trouble, no restore")
    func backBeforeReported() {
        var s = PathState(hasBackup: true, failoverAfter: 1, backoff: Self.backoff)
        s.failed(on: .primary, now: t0, random: 0)
        s.answered(on: .primary, now: t0 + .seconds(1))
        #expect(s.owed == nil && s.communicationsTrouble == .none)
    }

    @Test("failing again before YK went out keeps the one trouble report, no second YS")
    func failAgainBeforeRestore() {
        var s = PathState(hasBackup: true, failoverAfter: 1, backoff: Self.backoff)
        s.failed(on: .primary, now: t0, random: 0)
        s.noticeSettled(restored: false)
        s.answered(on: .primary, now: t0 + .seconds(1))
        s.failed(on: .primary, now: t0 + .seconds(2), random: 0)
        #expect(s.active == .backup && s.owed == nil)
        #expect(s.communicationsTrouble == .reported(since: t0))
    }

    @Test("the backup failing backs off on the backup; alarms cut the wait short")
    func backupFails() {
        var s = PathState(hasBackup: true, failoverAfter: 1, backoff: Self.backoff)
        s.failed(on: .primary, now: t0, random: 0)
        s.failed(on: .backup, now: t0, random: 0)
        s.failed(on: .backup, now: t0, random: 0)
        #expect(s.retryAt == t0 + .milliseconds(200) && s.failures == 2)
        s.alarmsArrived()
        #expect(s.retryAt == nil)
    }
}
