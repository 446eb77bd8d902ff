import Foundation
import PanicCore
import PanicDevCerts
import PanicOutbox
import PanicConfig
import PanicPlatform
import Testing

@Suite("A backlog drains over real TLS: in batches, alarms first, in order, once", .serialized)
struct BacklogDrainTests {
    /// Alerts of `kinds` committed to the harness gateway's outbox before it starts.
    func queue(in h: Harness, _ kinds: [AlertKind]) throws -> [Alert] {
        try FileManager.default.createDirectory(atPath: h.dir + "/state", withIntermediateDirectories: true)
        let outbox = try Outbox(path: h.dir + "/state/outbox.db", destinations: ["central"])
        let now = SystemClock().wallNow()
        return try outbox.accept(kinds.map { AlertDraft(kind: $0, input: "btn", zone: 7, occurredAt: now, clockSynchronized: true) },
                                 gatewayID: "gw-test", site: "test", at: now)
    }

    @Test("a queued backlog of alarms and telemetry reaches the receiver in batches, alarms first, each in sequence order, stored once; a fresh press then goes alone")
    func backlogDrainsInBatchesThenAPressGoesAlone() async throws {
        let h = try Harness()
        let certs = try DevCertificates.make()
        try await h.startReceiver(certs: certs)
        let ca = try certs.write(to: h.dir).ca

        // What an outage left behind: 600 alerts, one alarm in six.
        let queued = try queue(in: h, (0..<600).map { $0 % 6 == 0 ? .panic : .sensor })
        let alarms = queued.filter { $0.priority == .alarm }.map(\.id)
        let telemetry = queued.filter { $0.priority != .alarm }.map(\.id)

        let button = try await h.startGateway(caFile: ca)
        try await waitUntil("the backlog at the receiver", timeout: 30) { h.received.value.count == 600 }
        // The receiver has them before the gateway has read the last answer.
        try await waitUntil("outbox drained") { try h.pending() == 0 }
        let status = try #require(h.gateway?.destinations.first?.status)
        #expect(status.delivered == 600)
        // At most 100 alerts a batch and alarms apart: 1 alarm batch + 5 of telemetry, at the least.
        #expect(status.batches >= 6 && status.batches <= 12, "\(status.batches) batch requests for 600 alerts")

        #expect(h.received.value.map(\.id) == alarms + telemetry, "alarms first, each in order, each once")

        // A fresh press, nothing else queued: alone, at once.
        try await h.tap(button)
        try await waitUntil("press and restore at the receiver") { h.received.value.count == 602 }
        #expect(Array(h.received.value.suffix(2).map(\.kind)) == [.panic, .restore])
        #expect(h.gateway?.destinations.first?.status.batches == status.batches, "a lone press is not a batch")
        await h.stopGateway()
        await h.stopReceiver()
        #expect(h.rejected.value.isEmpty, "rejected: \(h.rejected.value)")
    }

    @Test("a receiver that refuses the batch's size (413) gets the backlog one alert at a time, in order, nothing lost")
    func receiverRefusingBatchesGetsSingles() async throws {
        let h = try Harness()
        let certs = try DevCertificates.make()
        var limits = ReceiverConfig.Limits()
        limits.maxBodyBytes = 4_096
        try await h.startReceiver(certs: certs, limits: limits)
        let ca = try certs.write(to: h.dir).ca
        let queued = try queue(in: h, Array(repeating: .sensor, count: 60))
        _ = try await h.startGateway(caFile: ca)
        try await waitUntil("the backlog at the receiver", timeout: 30) { h.received.value.count == 60 }
        #expect(h.received.value.map(\.id) == queued.map(\.id))
        try await waitUntil("outbox drained") { try h.pending() == 0 }
        #expect(h.gateway?.destinations.first?.status.batches == 0)
        await h.stopGateway()
        await h.stopReceiver()
    }
}
