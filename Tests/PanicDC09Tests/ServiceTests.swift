import Foundation
import Logging
import PanicConfig
import PanicCore
@testable import PanicDC09
import PanicDelivery
import PanicOutbox
import Testing

/// One gateway side: an outbox with one DC-09 destination "arc", and the
/// service delivering it, run and stopped by the test.
final class Bench: @unchecked Sendable {
    let dir: String
    let clock = RealClock()
    let acknowledged = Box<[DC09Acknowledgement]>([])
    let troubles = Box<[(String, Bool)]>([])
    var config: DC09Config
    private(set) var outbox: Outbox
    private(set) var service: DeliveryService
    private var task: Task<Void, Never>?

    init(_ config: DC09Config, dir: String = temporaryDirectory()) throws {
        self.dir = dir
        self.config = config
        outbox = try Outbox(path: dir + "/outbox.db", destinations: [config.name])
        service = try Self.makeService(config, outbox: outbox, dir: dir, clock: clock, acknowledged: acknowledged, troubles: troubles)
    }

    static func makeService(_ config: DC09Config, outbox: Outbox, dir: String, clock: RealClock, acknowledged: Box<[DC09Acknowledgement]>,
                            troubles: Box<[(String, Bool)]>) throws -> DeliveryService {
        var logger = Logger(label: "dc09-test")
        logger.logLevel = .critical
        return try DeliveryService.dc09(
            config: config, outbox: outbox, clock: clock, logger: logger, stateDirectory: dir,
            onAcknowledged: { a in acknowledged.mutate { $0.append(a) } },
            onTrouble: { cause, cleared in troubles.mutate { $0.append((cause, cleared)) } })
    }

    func start() {
        let s = service
        task = Task { try? await s.run() }
    }

    func stop() async {
        task?.cancel()
        await task?.value
        task = nil
    }

    /// A new service and outbox on the same state directory: a gateway restart.
    func restart(_ config: DC09Config? = nil) async throws {
        await stop()
        if let config { self.config = config }
        outbox = try Outbox(path: dir + "/outbox.db", destinations: [self.config.name])
        service = try Self.makeService(self.config, outbox: outbox, dir: dir, clock: clock, acknowledged: acknowledged, troubles: troubles)
        start()
    }

    @discardableResult
    func accept(_ drafts: [AlertDraft]) throws -> [Alert] {
        let a = try outbox.accept(drafts, gatewayID: "gw", site: "bench", at: clock.wallNow())
        service.alertsAccepted(urgent: a.contains { $0.priority == .alarm })
        return a
    }

    func pending() throws -> [PendingAlert] { try outbox.pending(destination: config.name) }
    func delivered() throws -> Int { try outbox.summary().first?.delivered ?? 0 }
}

func draft(_ kind: AlertKind, restores: AlertKind? = nil, zone: Int = 501, occurredAt: WallTime = RealClock().wallNow() - .seconds(1)) -> AlertDraft {
    AlertDraft(kind: kind, restores: restores, input: "lobby", zone: zone, area: 1, occurredAt: occurredAt, clockSynchronized: true)
}

func dc09(_ port: Int, backup: Int? = nil, key: [UInt8]? = nil, transport: DC09Config.Transport = .tcp, format: DC09Config.Format = .siaDCS,
          ackTimeout: Int = 300, backoffMax: Int = 400, supervision: Int = 0, failoverAfter: Int = 2) -> DC09Config {
    DC09Config(
        name: "arc", primary: .init(host: "127.0.0.1", port: port), backup: backup.map { .init(host: "127.0.0.1", port: $0) },
        transport: transport, account: key == nil ? "1234" : "AAA", format: format, key: key, ackTimeoutMilliseconds: ackTimeout,
        backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(Int64(backoffMax))),
        supervisionIntervalSeconds: supervision, failoverAfter: failoverAfter)
}

func waitUntil(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        if Date() > deadline {
            Issue.record("timed out after \(timeout) s waiting for \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

@Suite("DC-09 delivery against a scripted receiver on loopback", .serialized)
struct ServiceTests {
    @Test("ACK: alerts are delivered in order, one frame at a time, with H and a fresh stamp")
    func acknowledged() async throws {
        let r = try FakeReceiver()
        defer { r.stop() }
        let b = try Bench(dc09(r.port))
        b.start()
        let occurred = b.clock.wallNow() - .seconds(600)
        try b.accept([draft(.panic, occurredAt: occurred), draft(.restore, restores: .panic, occurredAt: occurred)])
        try await waitUntil("both delivered") { try b.delivered() == 2 }
        await b.stop()
        #expect(try b.pending().isEmpty)
        let frames = r.frames
        #expect(frames.map(\.data) == ["#1234|Nri1/PA501", "#1234|Nri1/PH501"])
        #expect(frames.map(\.sequence) == [1, 2])
        #expect(frames.allSatisfy { $0.extendedData == ["H" + DC09Timestamp.format(occurred)] })
        // Stamped when sent, not when it happened.
        #expect(frames.allSatisfy { abs(($0.timestamp! - b.clock.wallNow()).seconds) < 5 })
        #expect(b.acknowledged.value.map(\.number) == [1, 2])
        #expect(b.service.status.delivered == 2)
        // One TCP connection, kept.
        #expect(r.connections.value == 1)
    }

    @Test("a receiver that closes the connection after each reply: the next frame goes over a new one, nothing is lost")
    func receiverClosesAfterReply() async throws {
        let r = try FakeReceiver()
        r.closeAfterReply.value = true
        defer { r.stop() }
        let b = try Bench(dc09(r.port))
        b.start()
        for kind in [AlertKind.panic, .duress, .tamper] {
            try b.accept([draft(kind)])
            try await Task.sleep(for: .milliseconds(100))
        }
        try await waitUntil("all delivered") { try b.delivered() == 3 }
        await b.stop()
        #expect(r.frames.map(\.sequence) == [1, 2, 3])
        #expect(r.connections.value == 3)
        #expect(b.service.status.consecutiveFailures == 0)
    }

    @Test("ADM-CID over UDP: one datagram per frame, delivered")
    func udpContactID() async throws {
        let r = try FakeReceiver(udp: true)
        defer { r.stop() }
        let b = try Bench(dc09(r.port, transport: .udp, format: .admCID))
        b.start()
        try b.accept([draft(.duress, zone: 7)])
        try await waitUntil("delivered") { try b.delivered() == 1 }
        await b.stop()
        #expect(r.frames.map(\.data) == ["#1234|1121 01 007"])
        #expect(r.frames.first?.id == "ADM-CID")
    }

    @Test("with a key, every frame on the wire is encrypted, and *ACK delivers")
    func encrypted() async throws {
        let r = try FakeReceiver(key: notesKey)
        defer { r.stop() }
        let b = try Bench(dc09(r.port, key: notesKey, supervision: 1))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("delivered and supervised") { try b.delivered() == 1 && b.service.status.lastHeartbeatAcknowledged != nil }
        await b.stop()
        #expect(r.received.value.count >= 2)
        #expect(r.received.value.allSatisfy { text($0.raw).contains("\"*") })
        #expect(r.frames.map(\.id).prefix(2) == ["SIA-DCS", "NULL"])
    }

    @Test("a plaintext ACK to an encrypted frame is not trusted: nothing is marked delivered")
    func plaintextAckRefused() async throws {
        let r = try FakeReceiver(behaviour: .plaintextAck, key: notesKey)
        defer { r.stop() }
        let b = try Bench(dc09(r.port, key: notesKey))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("two tries") { r.received.value.count >= 2 }
        #expect(try b.delivered() == 0)
        #expect(b.service.status.lastError?.contains("plaintext ACK") == true)
        r.behaviour.value = .ack
        try await waitUntil("delivered once the receiver answers *ACK") { try b.delivered() == 1 }
        await b.stop()
    }

    @Test("NAK with the receiver's time: the clock offset is corrected and the same frame number is accepted")
    func nakShiftedClock() async throws {
        let r = try FakeReceiver(clockShift: .seconds(3600))
        defer { r.stop() }
        let b = try Bench(dc09(r.port))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("delivered") { try b.delivered() == 1 }
        await b.stop()
        #expect(r.received.value.map(\.answered) == ["NAK", "ACK"])
        #expect(r.frames.map(\.sequence) == [1, 1])
        let offset = b.service.status.clockOffset(.primary).seconds
        #expect(abs(offset - 3600) < 2)
    }

    @Test("DUH: the alert stays queued, postponed by the capped interval, the destination is in trouble; others still go")
    func duh() async throws {
        let r = try FakeReceiver(behaviour: .duh)
        defer { r.stop() }
        let b = try Bench(dc09(r.port, backoffMax: 60_000))
        b.start()
        let accepted = try b.accept([draft(.panic)])
        try await waitUntil("refused") { try b.pending().first?.attempts == 1 }
        try await Task.sleep(for: .milliseconds(500))
        // No hot loop: one DUH, then the alert waits for the capped interval.
        #expect(r.received.value.count == 1)
        let p = try #require(b.pending().first)
        #expect(p.sequence == accepted[0].sequence)
        #expect(p.lastError?.hasPrefix("DUH") == true)
        #expect((p.nextAttemptAt - b.clock.wallNow()).seconds > 50)
        #expect(b.service.status.refusal?.hasPrefix("DUH") == true)
        #expect(b.service.status.consecutiveFailures == 0)
        #expect(b.troubles.value.count == 1 && b.troubles.value.first?.1 == false)
        // Another alert is not held up behind it, and clears the trouble.
        r.behaviour.value = .ack
        try b.accept([draft(.tamper)])
        try await waitUntil("the other alert delivered") { try b.delivered() == 1 }
        #expect(try b.pending().map(\.sequence) == [accepted[0].sequence])
        #expect(b.service.status.refusal == nil)
        #expect(b.troubles.value.last?.1 == true)
        await b.stop()
    }

    @Test("a NAK that persists after the clock correction names the key, its format and the account, not the clock")
    func persistentNak() async throws {
        let r = try FakeReceiver(behaviour: .timedNak)
        defer { r.stop() }
        let b = try Bench(dc09(r.port, backoffMax: 60_000))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("refused") { try b.pending().first?.attempts == 1 }
        await b.stop()
        let refusal = try #require(b.service.status.refusal)
        #expect(refusal.contains("refuses the frames") && refusal.contains("key_format") && refusal.contains("account 1234"), "\(refusal)")
        #expect(!refusal.contains("timestamp refused again"))
        #expect(try b.delivered() == 0)
    }

    @Test("a bare NAK (unknown account) is a refusal: kept, postponed, trouble")
    func bareNak() async throws {
        let r = try FakeReceiver(behaviour: .bareNak)
        defer { r.stop() }
        let b = try Bench(dc09(r.port, backoffMax: 60_000))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("refused") { try b.pending().first?.attempts == 1 }
        await b.stop()
        #expect(b.service.status.refusal?.contains("does not know account 1234") == true)
        #expect(try b.delivered() == 0)
    }

    @Test("bad replies never deliver and back off; the alert goes once the receiver behaves", arguments: [
        FakeReceiver.Behaviour.garbage, .silence, .closeMidReply, .closeWithoutReply, .wrongSequence, .oversized, .bareAck,
    ])
    func badReplies(behaviour: FakeReceiver.Behaviour) async throws {
        let r = try FakeReceiver(behaviour: behaviour)
        defer { r.stop() }
        let b = try Bench(dc09(r.port))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("three failed tries") { r.received.value.count >= 3 && b.service.status.consecutiveFailures >= 2 }
        #expect(try b.delivered() == 0)
        #expect(try b.pending().count == 1)
        let status = b.service.status
        #expect(status.lastError != nil)
        #expect(status.refusal == nil)
        // One frame number for every retransmission of the alert.
        #expect(Set(r.frames.map(\.sequence)) == [1])
        r.behaviour.value = .ack
        try await waitUntil("delivered once the receiver answers properly") { try b.delivered() == 1 }
        #expect(b.service.status.consecutiveFailures == 0)
        await b.stop()
    }

    @Test("receiver offline, gateway restarted, receiver back: every alert arrives in order with the numbers it was first sent with")
    func offlineRestart() async throws {
        let port = try refusedPort()
        let b = try Bench(dc09(port))
        b.start()
        try b.accept([draft(.panic), draft(.duress), draft(.restore, restores: .panic)])
        try await waitUntil("a failed try") { b.service.status.consecutiveFailures >= 2 }
        #expect(try b.pending().count == 3)
        await b.stop()
        let r = try FakeReceiver(port: port)
        defer { r.stop() }
        try await b.restart()
        try await waitUntil("all delivered after the restart") { try b.delivered() == 3 }
        await b.stop()
        #expect(r.frames.map(\.data) == ["#1234|Nri1/PA501", "#1234|Nri1/HA501", "#1234|Nri1/PH501"])
        // The panic was tried (as number 1) before the restart and keeps it.
        #expect(r.frames.first?.sequence == 1)
        #expect(r.frames.map(\.sequence) == [1, 2, 3])
    }

    @Test("supervision: NULL frames at the interval while nothing else is sent")
    func supervision() async throws {
        let r = try FakeReceiver()
        defer { r.stop() }
        let b = try Bench(dc09(r.port, supervision: 1))
        b.start()
        try await waitUntil("two supervision frames", timeout: 5) { r.frames.filter { $0.id == "NULL" }.count >= 2 }
        await b.stop()
        let nulls = r.received.value.filter { $0.frame?.id == "NULL" }
        let gap = (nulls[1].at - nulls[0].at).seconds
        #expect(gap > 0.8 && gap < 2)
        #expect(b.service.status.lastHeartbeatAcknowledged != nil)
    }

    @Test("a periodic-test supervision sends RP")
    func periodicTest() async throws {
        let r = try FakeReceiver()
        defer { r.stop() }
        var c = dc09(r.port, supervision: 1)
        c.supervision = .periodicTest
        let b = try Bench(c)
        b.start()
        try await waitUntil("a periodic test", timeout: 5) { !r.frames.isEmpty }
        await b.stop()
        #expect(r.frames.first?.data == "#1234|Nri0/RP0")
    }

    @Test("primary down, backup up: alerts and a communications-trouble event go to the backup; primary back: restore over it")
    func failover() async throws {
        let primaryPort = try refusedPort()
        let backup = try FakeReceiver()
        defer { backup.stop() }
        let b = try Bench(dc09(primaryPort, backup: backup.port, failoverAfter: 2))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("panic and YS acknowledged by the backup") { b.acknowledged.value.contains { $0.what == .communicationsTrouble(restored: false) } }
        #expect(backup.frames.map(\.data).prefix(2) == ["#1234|Nri1/PA501", "#1234|Nri0/YS1"])
        #expect(b.service.status.activePath == .backup)
        #expect(b.service.status.communicationsTrouble)
        #expect(try b.delivered() == 1)
        try b.accept([draft(.duress)])
        try await waitUntil("the next alert at the backup too") { backup.frames.contains { $0.data == "#1234|Nri1/HA501" } }
        let primary = try FakeReceiver(port: primaryPort)
        defer { primary.stop() }
        try await waitUntil("restore acknowledged by the primary") { b.acknowledged.value.contains { $0.what == .communicationsTrouble(restored: true) } }
        #expect(primary.frames.contains { $0.data == "#1234|Nri0/YK1" })
        #expect(b.service.status.activePath == .primary)
        #expect(!b.service.status.communicationsTrouble)
        try b.accept([draft(.restore, restores: .panic)])
        try await waitUntil("alerts go to the primary again") { primary.frames.contains { $0.data == "#1234|Nri1/PH501" } }
        await b.stop()
        #expect(primary.frames.first?.id == "NULL")  // the probe that found it back
        #expect(b.troubles.value.map(\.1) == [false, true])
        let kinds = b.acknowledged.value.map(\.what)
        #expect(kinds.contains(.communicationsTrouble(restored: false)) && kinds.contains(.communicationsTrouble(restored: true)))
    }

    @Test("an alert whose zone does not fit Contact ID is refused locally, kept, and does not hold up others")
    func zoneDoesNotFit() async throws {
        let r = try FakeReceiver()
        defer { r.stop() }
        let b = try Bench(dc09(r.port, format: .admCID, backoffMax: 60_000))
        b.start()
        try b.accept([draft(.panic, zone: 1234), draft(.duress, zone: 12)])
        try await waitUntil("the other delivered") { try b.delivered() == 1 }
        await b.stop()
        #expect(r.frames.map(\.data) == ["#1234|1121 01 012"])
        #expect(try b.pending().first?.lastError?.contains("zone 1234 does not fit adm-cid") == true)
    }

    @Test("a destination the outbox does not know is refused at setup")
    func unknownDestination() throws {
        let dir = temporaryDirectory()
        let outbox = try Outbox(path: dir + "/o.db", destinations: ["central"])
        #expect(throws: DeliverySetupError.self) {
            try DeliveryService.dc09(config: dc09(1), outbox: outbox, clock: RealClock(), logger: Logger(label: "t"), stateDirectory: dir)
        }
    }

    @Test("stopping while the receiver is silent returns promptly and delivers nothing")
    func stopsPromptly() async throws {
        let r = try FakeReceiver(behaviour: .silence)
        defer { r.stop() }
        let b = try Bench(dc09(r.port, ackTimeout: 60_000))
        b.start()
        try b.accept([draft(.panic)])
        try await waitUntil("frame sent") { !r.received.value.isEmpty }
        let t0 = Date()
        await b.stop()
        #expect(Date().timeIntervalSince(t0) < 2)
        #expect(try b.delivered() == 0)
    }
}
