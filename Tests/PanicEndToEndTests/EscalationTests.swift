import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PanicConfig
import PanicConsole
import PanicCore
import PanicReceiverKit
import PanicSigning
import ServiceLifecycle
import Testing

/// A webhook receiver on loopback that verifies each request's signature
/// with the receiver's public key and records what it was sent.
final class WebhookPeer: @unchecked Sendable {
    let received = Locked<[String]>([])
    let refusedSignatures = Locked(0)
    var group: ServiceGroup?
    var task: Task<Void, any Error>?

    /// `clock`: the time the peer checks signatures against (the test's).
    func start(port: Int, trusting key: PublicKey, clock: any GatewayClock) async throws {
        let router = Router()
        let verifier = SignatureVerifier(trusted: [TrustedKey(gatewayID: "receiver", key: key)])
        let received = self.received, refused = refusedSignatures
        router.post("/hook") { request, _ -> Response in
            let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
            let headers = request.headers
            let message = SignedMessage(method: "POST", targetURI: "http://127.0.0.1:\(port)/hook", body: body) { name in
                HTTPField.Name(name).flatMap { headers[$0] }
            }
            do { _ = try verifier.verify(message, now: clock.wallNow()) } catch {
                refused.mutate { $0 += 1 }
                return Response(status: .unauthorized)
            }
            received.mutate { $0.append(String(decoding: body, as: UTF8.self)) }
            return Response(status: .ok)
        }
        var logger = Logger(label: "webhook")
        logger.logLevel = .critical
        let listening = Locked(false)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { _ in listening.value = true }, logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        self.group = group
        task = Task { try await group.run() }
        try await waitUntil("webhook listening") { listening.value }
    }

    func stop() async {
        await group?.triggerGracefulShutdown()
        _ = try? await task?.value
    }
}

/// A port nothing listens on now (bound and released).
func unusedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Escalation on a clock moved by hand: an alarm nobody acknowledged goes,
/// signed, to a real webhook on loopback — which is down at first.
@Suite(.serialized) struct EscalationTests {
    let dir = NSTemporaryDirectory() + "/escalation-" + UUID().uuidString

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    func alarm(_ s: any ReceiverStore, _ seq: Int64, _ kind: AlertKind, input: String, at t: WallTime) async throws {
        var a = Alert(id: "a-\(seq)", gatewayID: "gw-1", site: "Embassy A", sequence: seq, kind: kind, occurredAt: t, acceptedAt: t, clockSynchronized: true)
        a.input = input
        _ = try await s.store(a, body: try WireFormat.encode(a), keyID: "k", at: t)
    }

    @Test(arguments: ReceiverEngine.allCases) func anUnacknowledgedAlarmIsEscalatedSignedAndDeliveredOnceTheWebhookReturns(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { store in try await escalatesAndDelivers(store) }
    }

    func escalatesAndDelivers(_ store: any ReceiverStore) async throws {
        let clock = ManualClock(wall: Int64(Date().timeIntervalSince1970 * 1e9))
        let key = SigningKey.generate()
        let port = unusedPort()
        var console = ReceiverConfig.Console()
        var esc = ReceiverConfig.Console.Escalation(keyFile: dir + "/escalation.key")
        esc.afterSeconds = 120
        esc.webhooks = [.init(name: "police", url: "http://127.0.0.1:\(port)/hook")]
        console.escalation = esc
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let sender = try SignedWebhookSender(key: key, webhooks: esc.webhooks)
        let service = EscalationService(store: store, console: console, escalation: esc, sender: sender, clock: clock, logger: logger)

        let t0 = clock.wallNow()
        try await alarm(store, 1, .panic, input: "hall", at: t0)
        try await alarm(store, 2, .trouble, input: "psu", at: t0)
        try await alarm(store, 3, .duress, input: "desk", at: t0)
        try await alarm(store, 4, .tamper, input: "lid", at: t0 + .seconds(1))
        let handled = try #require(try await store.openIncidents().first { $0.input == "desk" })
        _ = try await store.acknowledge(handled.id, by: "olga", at: t0 + .seconds(30))

        clock.advance(by: .seconds(119))
        #expect(try await service.tick() == .init(escalated: 0, delivered: 0, failed: 0), "not yet")
        clock.advance(by: .seconds(1))
        #expect(try await service.tick() == .init(escalated: 1, delivered: 0, failed: 1),
                "the panic is escalated (the acknowledged duress and the trouble are not); the webhook is down")
        clock.advance(by: .seconds(1))
        #expect(try await service.tick() == .init(escalated: 1, delivered: 0, failed: 1),
                "the tamper a second later; the dead webhook is tried once a pass, not once per escalation")
        let hall = try #require(try await store.openIncidents().first { $0.input == "hall" })
        #expect(hall.escalatedAt == t0 + .seconds(120), "shown as escalated in every queue")
        #expect(try await store.undeliveredEscalations() == 2)
        #expect(try await service.tick() == .init(escalated: 0, delivered: 0, failed: 0), "waits its back-off, escalates nothing twice")

        let peer = WebhookPeer()
        try await peer.start(port: port, trusting: key.publicKey, clock: clock)
        clock.advance(by: .seconds(2))
        #expect(try await service.tick() == .init(escalated: 0, delivered: 2, failed: 0), "both, in order, once the webhook is back")
        #expect(try await service.tick() == .init(escalated: 0, delivered: 0, failed: 0), "delivered once")
        let got = peer.received.value
        #expect(got.count == 2 && peer.refusedSignatures.value == 0)
        #expect(got.first?.contains("\"type\":\"escalation\"") == true && got.first?.contains("\"input\":\"hall\"") == true)
        #expect(try await store.undeliveredEscalations() == 0)
        let audit = try await store.audit(incidentID: hall.id, limit: 10).map(\.action)
        #expect(audit == ["escalated", "escalation-delivered"])
        await peer.stop()
        await sender.shutdown()
    }

    @Test(arguments: ReceiverEngine.allCases) func escalationsSurviveARestartOfTheReceiver(_ engine: ReceiverEngine) async throws {
        let clock = ManualClock(wall: Int64(Date().timeIntervalSince1970 * 1e9))
        var esc = ReceiverConfig.Console.Escalation(keyFile: dir + "/k")
        esc.webhooks = [.init(name: "police", url: "http://127.0.0.1:\(unusedPort())/hook")]
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        try await withFreshStore(engine) { [esc, logger] store in
            let sender = try SignedWebhookSender(key: .generate(), webhooks: esc.webhooks)
            try await alarm(store, 1, .panic, input: "hall", at: clock.wallNow())
            clock.advance(by: .seconds(121))
            let service = EscalationService(store: store, console: .init(), escalation: esc, sender: sender, clock: clock, logger: logger)
            #expect(try await service.tick().escalated == 1)
            await sender.shutdown()
            try await withReopened(store) { reopened async throws in
                #expect(try await reopened.undeliveredEscalations() == 1, "the queue is in the database, not in memory")
                // Past the back-off of the failed attempt (and a replica's lease).
                #expect(try await reopened.dueEscalations(at: clock.wallNow() + .seconds(61), limit: 10).first?.webhook == "police")
            }
        }
    }
}
