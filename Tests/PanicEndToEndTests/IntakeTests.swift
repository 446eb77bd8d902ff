import Foundation
import Logging
import PanicCore
import PanicReceiverKit
import PanicSigning
import Testing

@Suite("Receiver intake")
struct IntakeTests {
    let key = SigningKey.generate()
    let store: SQLiteReceiverStore
    let intake: Intake
    let now = WallTime(secondsSinceEpoch: 1_800_000_000)
    let ids = AlertIDGenerator()

    init() throws {
        store = try SQLiteReceiverStore(path: NSTemporaryDirectory() + "/intake-" + UUID().uuidString + ".db")
        intake = Intake(verifier: SignatureVerifier(trusted: [TrustedKey(gatewayID: "gw-1", key: key.publicKey)]),
                        store: store, authorities: ReceiverAuthorities(configured: ["r:80"], scheme: "http"),
                        logger: Logger(label: "t"), observer: { _ in })
    }

    func alert(_ seq: Int64, gateway: String = "gw-1", id: String? = nil) -> Alert {
        Alert(id: id ?? ids.next(at: now), gatewayID: gateway, site: "s", sequence: seq, kind: .panic, input: "b", zone: 1, area: 1,
              occurredAt: now, acceptedAt: now, clockSynchronized: false)
    }

    func post(_ a: Alert, signer: SigningKey? = nil, nonce: String? = nil, body override: [UInt8]? = nil) async throws -> IntakeResponse {
        let body = try override ?? WireFormat.encode(a)
        let h = try MessageSigner(key: signer ?? key).sign(method: "POST", targetURI: "http://r/v1/alerts", contentType: "application/json",
                                                          body: body, created: now.secondsSinceEpoch, nonce: nonce ?? a.id)
        let headers = ["content-type": "application/json", "content-digest": h.contentDigest, "signature-input": h.signatureInput, "signature": h.signature]
        return await intake.alert(SignedMessage(method: "POST", targetURI: "http://r/v1/alerts", body: body) { headers[$0] }, now: now)
    }

    @Test("an acknowledged alert is on disk: the receiver's writer runs synchronous=FULL")
    func durable() async throws {
        #expect(try store.synchronousMode() == 2)
    }

    @Test("new is 201, the same alert again is 200 and stored once")
    func newThenDuplicate() async throws {
        let a = alert(1)
        #expect(try await post(a).status == 201)
        #expect(try await post(a).status == 200)
        #expect(try await store.alerts().map(\.id) == [a.id])
    }

    @Test("a gateway's key cannot vouch for another gateway's alert")
    func foreignGateway() async throws {
        #expect(try await post(alert(1, gateway: "gw-2")).status == 401)
        #expect(try await store.alerts().isEmpty)
    }

    @Test("the same sequence number under a new id is stored as a new alert and flagged, never refused")
    func sequenceReuse() async throws {
        #expect(try await post(alert(5)).status == 201)
        let again = try await post(alert(5))
        #expect(again.status == 201)
        #expect(again.body.contains("was used before"))
        #expect(try await store.alerts().count == 2)
        #expect(try await store.events(after: 0).contains { $0.type == "seq-reuse" })
    }

    @Test("malformed bodies and a nonce that is not the alert id are 400")
    func malformed() async throws {
        #expect(try await post(alert(1), body: Array("{\"id\":1}".utf8)).status == 400)
        #expect(try await post(alert(1), body: Array("not json".utf8)).status == 400)
        #expect(try await post(alert(1), nonce: "something-else").status == 400)
        #expect(try await post(alert(0)).status == 400)
        #expect(try await store.alerts().isEmpty)
    }

    @Test("a gap in sequence numbers is noticed and shown in status")
    func gaps() async throws {
        for s in [1, 2, 5, 6, 9] as [Int64] { #expect(try await post(alert(s)).status == 201) }
        let status = try #require(try await store.status().first)
        #expect(status.gaps == [3...4, 7...8])
        #expect(try await store.events(after: 0).filter { $0.type == "gap" }.count == 2)
    }
}
