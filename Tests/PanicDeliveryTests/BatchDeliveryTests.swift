import Foundation
import Logging
import PanicCore
import PanicDelivery
import PanicOutbox
import Testing

/// A channel that takes batches: it records each exchange and answers a
/// batch as told (a single alert is always delivered).
final class BatchChannel: DeliveryChannel, @unchecked Sendable {
    enum Call: Equatable {
        case single(Int64)
        case batch([Int64])
    }

    let destination = "central"
    let kind = "fake-batch"
    let target = "fake://receiver/batch"
    let policy: DeliveryPolicy
    let batchLimit: Int
    let clock: ManualClock
    private let answer: @Sendable ([Int64], WallTime) -> BatchAttemptResult
    let calls = Locked<[(call: Call, at: WallTime)]>([])

    init(policy: DeliveryPolicy, limit: Int, clock: ManualClock, answer: @escaping @Sendable ([Int64], WallTime) -> BatchAttemptResult) {
        self.policy = policy
        self.batchLimit = limit
        self.clock = clock
        self.answer = answer
    }

    func deliver(_ alert: PendingAlert, on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        calls.mutate { $0.append((.single(alert.sequence), clock.wallNow())) }
        return .delivered
    }

    func deliver(batch: [PendingAlert], on path: DeliveryPath, clockOffset: Nanoseconds) async -> BatchAttemptResult {
        let sequences = batch.map(\.sequence)
        let now = clock.wallNow()
        calls.mutate { $0.append((.batch(sequences), now)) }
        return answer(sequences, now)
    }

    var exchanges: [Call] { calls.value.map(\.call) }
}

/// An outbox and a delivery service over a batch channel on a manual clock.
struct BatchDay {
    let clock = ManualClock()
    let start: WallTime
    let outbox: Outbox
    let channel: BatchChannel
    let sleeper: ManualSleeper
    let service: DeliveryService
    let delivered = Locked<[Int64]>([])

    static let policy = DeliveryPolicy(backoff: Backoff(initial: .seconds(1), maximum: .seconds(30), jitter: 0))

    init(limit: Int = 100, minutes: Int64 = 10, answer: @escaping @Sendable ([Int64], WallTime) -> BatchAttemptResult) throws {
        start = clock.wallNow()
        channel = BatchChannel(policy: Self.policy, limit: limit, clock: clock, answer: answer)
        sleeper = ManualSleeper(clock: clock, stopAt: start + .seconds(minutes * 60))
        (outbox, service) = try manualService(channel, clock: clock, sleeper: sleeper, delivered: delivered)
    }

    /// Accepts alerts of `kinds`, in that order, before the service runs.
    func accept(_ kinds: [AlertKind]) throws -> [Alert] { try acceptNow(kinds, outbox: outbox, service: service, clock: clock) }

    func run() async {
        let s = service
        let task = Task { try? await s.run() }
        await sleeper.finished()
        task.cancel()
        await task.value
    }

    func pending() throws -> [Int64] { try outbox.pending(destination: "central").map(\.sequence) }
}

private func allDelivered(_ s: [Int64], _ at: WallTime) -> BatchAttemptResult { .each(s.map { _ in .delivered }) }

@Suite("A backlog drains in batches: alarms apart and first, each alert's answer its own, nothing lost", .serialized)
struct BatchDeliveryTests {
    @Test("a backlog of alarms and telemetry drains in batches of at most the limit, alarms first and never mixed with telemetry, in order, once")
    func backlogDrainsInBatches() async throws {
        let day = try BatchDay(limit: 100, answer: allDelivered)
        let kinds = (0..<280).map { $0 % 9 == 0 ? AlertKind.panic : .sensor }
        let accepted = try day.accept(kinds)
        await day.run()

        let alarms = accepted.filter { $0.priority == .alarm }.map(\.sequence)
        let telemetry = accepted.filter { $0.priority != .alarm }.map(\.sequence)
        #expect(alarms.count == 32 && telemetry.count == 248)
        #expect(day.channel.exchanges == [.batch(alarms), .batch(Array(telemetry[0..<100])), .batch(Array(telemetry[100..<200])), .batch(Array(telemetry[200...]))])
        #expect(day.delivered.value == alarms + telemetry)
        #expect(try day.pending().isEmpty)
        #expect(day.service.status.delivered == 280)
    }

    @Test("a lone alarm goes out at once and alone, not as a batch")
    func loneAlarmGoesAlone() async throws {
        let day = try BatchDay(answer: allDelivered)
        let a = try day.accept([.panic])
        await day.run()
        #expect(day.channel.exchanges == [.single(a[0].sequence)])
        #expect(day.delivered.value == [a[0].sequence])
    }

    @Test("one alert refused in a batch is postponed alone; the others are delivered and the refused one goes again after the longest back-off")
    func oneRefusedInABatch() async throws {
        let day = try BatchDay { s, _ in
            .each(s.enumerated().map { $0.offset == 2 ? .refused("malformed") : .delivered })
        }
        let a = try day.accept(Array(repeating: .sensor, count: 5)).map(\.sequence)
        await day.run()
        #expect(day.channel.exchanges == [.batch(a), .single(a[2])])
        #expect(day.delivered.value == [a[0], a[1], a[3], a[4], a[2]])
        let retry = try #require(day.channel.calls.value.last)
        #expect(retry.at - day.start == .seconds(30), "the refused alert went again after the 30 s cap")
        #expect(try day.pending().isEmpty)
    }

    @Test("a batch that fails as a whole backs off and goes again whole: nothing lost, nothing twice")
    func wholeFailureBacksOff() async throws {
        let failures = Locked(2)
        let day = try BatchDay { s, now in
            if failures.mutate({ n in defer { n -= 1 }; return n > 0 }) { return .whole(.failed("connection refused", cause: "unreachable")) }
            return allDelivered(s, now)
        }
        let a = try day.accept(Array(repeating: .sensor, count: 7)).map(\.sequence)
        await day.run()
        #expect(day.channel.exchanges == [.batch(a), .batch(a), .batch(a)])
        let at = day.channel.calls.value.map { $0.at - day.start }
        #expect(at == [.seconds(0), .seconds(1), .seconds(3)], "back-off 1 s then 2 s: \(at)")
        #expect(day.delivered.value == a)
        #expect(try day.pending().isEmpty)
    }

    @Test("no reply for an alert in the middle ends the batch there: those before are delivered, the rest go again in order after the back-off")
    func failureMidBatchKeepsOrder() async throws {
        let once = Locked(true)
        let day = try BatchDay { s, now in
            if once.mutate({ f in defer { f = false }; return f }) { return .each([.delivered, .delivered, .failed("storage", cause: "server"), .delivered]) }
            return allDelivered(s, now)
        }
        let a = try day.accept(Array(repeating: .sensor, count: 6)).map(\.sequence)
        await day.run()
        #expect(day.channel.exchanges == [.batch(a), .batch(Array(a[2...]))])
        #expect(day.channel.calls.value[1].at - day.start == .seconds(1))
        #expect(day.delivered.value == a, "delivered in order, once each")
    }

    @Test("a channel that answers fewer alerts than it was given: the rest go next, the last one alone")
    func fewerResultsThanGiven() async throws {
        let day = try BatchDay { s, _ in .each(s.prefix(2).map { _ in .delivered }) }
        let a = try day.accept(Array(repeating: .sensor, count: 5)).map(\.sequence)
        await day.run()
        #expect(day.channel.exchanges == [.batch(a), .batch(Array(a[2...])), .single(a[4])])
        #expect(day.delivered.value == a)
        #expect(day.channel.calls.value.allSatisfy { $0.at == day.start }, "no back-off between them")
    }

    @Test("an answer with more results than alerts sent is a failure: nothing marked delivered on its word", arguments: [0, 1])
    func moreResultsThanGiven(extra: Int) async throws {
        let once = Locked(true)
        let day = try BatchDay { s, now in
            if once.mutate({ f in defer { f = false }; return f }) {
                return .each(Array(repeating: .delivered, count: extra == 0 ? 0 : s.count + extra))
            }
            return allDelivered(s, now)
        }
        let a = try day.accept(Array(repeating: .sensor, count: 3)).map(\.sequence)
        await day.run()
        #expect(day.channel.exchanges == [.batch(a), .batch(a)])
        #expect(day.channel.calls.value[1].at - day.start == .seconds(1), "backed off as after a failure")
        #expect(day.delivered.value == a)
    }

    @Test("a channel that does not take batches: every alert goes alone, in order")
    func unsupportedGoesAlone() async throws {
        let day = try BatchDay { _, _ in .unsupported }
        let a = try day.accept(Array(repeating: .sensor, count: 3)).map(\.sequence)
        await day.run()
        #expect(day.channel.exchanges == [.batch(a), .single(a[0]), .batch(Array(a[1...])), .single(a[1]), .single(a[2])])
        #expect(day.delivered.value == a)
    }
}
