import Foundation
import Logging
import PanicCore
import PanicReceiverKit
import PanicSigning
import Testing

@Suite("Receiver batch intake (POST /v1/alerts/batch), on SQLite and on PostgreSQL")
struct BatchIntakeTests {
    let key = SigningKey.generate()
    let now = WallTime(secondsSinceEpoch: 1_800_000_000)
    let ids = AlertIDGenerator()
    static let uri = "http://r/v1/alerts/batch"

    func makeIntake(_ store: any ReceiverStore) -> Intake {
        Intake(verifier: SignatureVerifier(trusted: [TrustedKey(gatewayID: "gw-1", key: key.publicKey)]),
               store: store, authorities: ReceiverAuthorities(configured: ["r:80"], scheme: "http"),
               logger: Logger(label: "t"), observer: { _ in })
    }

    func alert(_ seq: Int64, gateway: String = "gw-1") -> Alert {
        Alert(id: ids.next(at: now), gatewayID: gateway, site: "s", sequence: seq, kind: .panic, input: "b", zone: 1, area: 1,
              occurredAt: now, acceptedAt: now, clockSynchronized: false)
    }

    /// Posts `lines` (each an alert's bytes) as one signed batch.
    func post(to intake: Intake, lines: [[UInt8]], nonce: String) async throws -> IntakeResponse {
        let body = Array(lines.joined(separator: [UInt8(ascii: "\n")])) + [UInt8(ascii: "\n")]
        let h = try MessageSigner(key: key).sign(method: "POST", targetURI: Self.uri, contentType: "application/x-ndjson",
                                                 body: body, created: now.secondsSinceEpoch, nonce: nonce)
        let headers = ["content-type": "application/x-ndjson", "content-digest": h.contentDigest, "signature-input": h.signatureInput, "signature": h.signature]
        return await intake.alertBatch(SignedMessage(method: "POST", targetURI: Self.uri, body: body) { headers[$0] }, now: now)
    }

    func post(to intake: Intake, _ alerts: [Alert]) async throws -> IntakeResponse {
        try await post(to: intake, lines: alerts.map { try WireFormat.encode($0) }, nonce: alerts[0].id)
    }

    /// The per-alert statuses of a 200 answer.
    func statuses(_ r: IntakeResponse) throws -> [Int] {
        #expect(r.status == 200, "\(r.status) \(r.body)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
        let results = try #require(json["results"] as? [[String: Any]])
        return results.map { $0["status"] as? Int ?? -1 }
    }

    @Test("a batch is stored in order, one result per alert; sent again, every alert is a duplicate and nothing is stored twice", arguments: ReceiverEngine.allCases)
    func storedInOrderThenDuplicates(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            let batch = (1...50).map { alert(Int64($0)) }
            #expect(try statuses(await post(to: intake, batch)) == Array(repeating: 201, count: 50))
            #expect(try statuses(await post(to: intake, batch)) == Array(repeating: 200, count: 50))
            let stored = try await store.alerts()
            #expect(stored.map(\.id) == batch.map(\.id))
            #expect(stored.map(\.sequence) == Array(1...50))
            #expect(try await store.status().first?.gaps == [])
        }
    }

    @Test("a malformed line and another gateway's alert are refused alone; the rest of the batch is stored", arguments: ReceiverEngine.allCases)
    func badLinesRefusedAlone(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            let a = [alert(1), alert(2), alert(3, gateway: "gw-2"), alert(4)]
            var lines = try a.map { try WireFormat.encode($0) }
            lines.insert(Array("{\"id\":1}".utf8), at: 1)
            #expect(try statuses(await post(to: intake, lines: lines, nonce: a[0].id)) == [201, 400, 201, 401, 201])
            #expect(try await store.alerts().map(\.sequence) == [1, 2, 4])
        }
    }

    @Test("a gap and a sequence reuse inside one batch are noticed as they would be alone", arguments: ReceiverEngine.allCases)
    func gapAndReuseWithinABatch(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            let r = try await post(to: intake, [alert(1), alert(2), alert(5), alert(5)])
            #expect(try statuses(r) == [201, 201, 201, 201])
            #expect(r.body.contains("was used before"))
            #expect(try await store.status().first?.gaps == [3...4])
            let events = try await store.events(after: 0)
            #expect(events.filter { $0.type == "gap" }.count == 1 && events.contains { $0.type == "seq-reuse" })
        }
    }

    @Test("the whole batch is refused, nothing stored: a nonce that is not the first alert's id, a bad signature, an empty or oversized batch", arguments: ReceiverEngine.allCases)
    func refusedWhole(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            let a = [alert(1), alert(2)]
            let lines = try a.map { try WireFormat.encode($0) }
            #expect(try await post(to: intake, lines: lines, nonce: a[1].id).status == 400)
            #expect(try await post(to: intake, lines: [Array("junk".utf8)] + lines, nonce: a[0].id).status == 400, "the first line must be an alert")
            #expect(try await post(to: intake, lines: [], nonce: a[0].id).status == 400)
            let many = (0...Intake.maximumBatchAlerts).map { _ in lines[0] }
            #expect(try await post(to: intake, lines: many, nonce: a[0].id).status == 413)
            // Signed over one body, sent with another.
            let body = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
            let h = try MessageSigner(key: key).sign(method: "POST", targetURI: Self.uri, contentType: "application/x-ndjson",
                                                     body: body, created: now.secondsSinceEpoch, nonce: a[0].id)
            let headers = ["content-type": "application/x-ndjson", "content-digest": h.contentDigest, "signature-input": h.signatureInput, "signature": h.signature]
            let forged = await intake.alertBatch(SignedMessage(method: "POST", targetURI: Self.uri, body: Array(lines[0])) { headers[$0] }, now: now)
            #expect(forged.status == 400 || forged.status == 401, "\(forged.status)")
            #expect(try await store.alerts().isEmpty)
        }
    }
}
