import Foundation
import Logging
import PanicCore
import PanicReceiverKit
import PanicSigning
import Testing

@Suite("Receiver intake, on SQLite and on PostgreSQL")
struct IntakeTests {
    let key = SigningKey.generate()
    let now = WallTime(secondsSinceEpoch: 1_800_000_000)
    let ids = AlertIDGenerator()

    func makeIntake(_ store: any ReceiverStore) -> Intake {
        Intake(verifier: SignatureVerifier(trusted: [TrustedKey(gatewayID: "gw-1", key: key.publicKey)]),
               store: store, authorities: ReceiverAuthorities(configured: ["r:80"], scheme: "http"),
               logger: Logger(label: "t"), observer: { _ in })
    }

    func alert(_ seq: Int64, gateway: String = "gw-1", id: String? = nil) -> Alert {
        Alert(id: id ?? ids.next(at: now), gatewayID: gateway, site: "s", sequence: seq, kind: .panic, input: "b", zone: 1, area: 1,
              occurredAt: now, acceptedAt: now, clockSynchronized: false)
    }

    func post(to intake: Intake, _ a: Alert, signer: SigningKey? = nil, nonce: String? = nil, body override: [UInt8]? = nil) async throws -> IntakeResponse {
        let body = try override ?? WireFormat.encode(a)
        let h = try MessageSigner(key: signer ?? key).sign(method: "POST", targetURI: "http://r/v1/alerts", contentType: "application/json",
                                                          body: body, created: now.secondsSinceEpoch, nonce: nonce ?? a.id)
        let headers = ["content-type": "application/json", "content-digest": h.contentDigest, "signature-input": h.signatureInput, "signature": h.signature]
        return await intake.alert(SignedMessage(method: "POST", targetURI: "http://r/v1/alerts", body: body) { headers[$0] }, now: now)
    }

    @Test("an acknowledged alert is on disk: the receiver's SQLite writer runs synchronous=FULL")
    func durable() async throws {
        let store = try SQLiteReceiverStore(path: NSTemporaryDirectory() + "/intake-" + UUID().uuidString + ".db")
        #expect(try store.synchronousMode() == 2)
    }

    @Test("new is 201, the same alert again is 200 and stored once", arguments: ReceiverEngine.allCases)
    func newThenDuplicate(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            let a = alert(1)
            #expect(try await post(to: intake, a).status == 201)
            #expect(try await post(to: intake, a).status == 200)
            #expect(try await store.alerts().map(\.id) == [a.id])
        }
    }

    @Test("an alert is unique on (gateway, id): another gateway's alert with the same id is stored, not taken for a duplicate", arguments: ReceiverEngine.allCases)
    func uniquePerGateway(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let other = SigningKey.generate()
            let both = Intake(verifier: SignatureVerifier(trusted: [TrustedKey(gatewayID: "gw-1", key: key.publicKey),
                                                                    TrustedKey(gatewayID: "gw-2", key: other.publicKey)]),
                              store: store, authorities: ReceiverAuthorities(configured: ["r:80"], scheme: "http"),
                              logger: Logger(label: "t"), observer: { _ in })
            let id = ids.next(at: now)
            func send(_ a: Alert, _ k: SigningKey) async throws -> Int {
                let body = try WireFormat.encode(a)
                let h = try MessageSigner(key: k).sign(method: "POST", targetURI: "http://r/v1/alerts", contentType: "application/json",
                                                       body: body, created: now.secondsSinceEpoch, nonce: a.id)
                let headers = ["content-type": "application/json", "content-digest": h.contentDigest, "signature-input": h.signatureInput, "signature": h.signature]
                return await both.alert(SignedMessage(method: "POST", targetURI: "http://r/v1/alerts", body: body) { headers[$0] }, now: now).status
            }
            #expect(try await send(alert(1, gateway: "gw-1", id: id), key) == 201)
            #expect(try await send(alert(1, gateway: "gw-2", id: id), other) == 201, "one gateway's id must not pre-empt another's alert")
            #expect(try await send(alert(1, gateway: "gw-2", id: id), other) == 200)
            #expect(try await store.alerts().count == 2)
        }
    }

    @Test("gateways registered in the store are trusted once the directory loads them; disabled ones are not", arguments: ReceiverEngine.allCases)
    func registryKeys(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let g = SigningKey.generate()
            let directory = KeyDirectory(configured: [])
            try await store.changeRegistry(.add(id: "gw-9", site: "North", publicKeys: [g.publicKey.base64]), at: now)
            #expect(directory.keys.isEmpty && !directory.isLoaded)
            #expect(try await directory.refresh(from: store, logger: Logger(label: "t")))
            #expect(directory.keys[g.publicKey.keyID]?.gatewayID == "gw-9")
            #expect(try await directory.refresh(from: store, logger: Logger(label: "t")) == false, "an unchanged registry is not reloaded")
            try await store.changeRegistry(.setEnabled(id: "gw-9", false), at: now)
            #expect(try await directory.refresh(from: store, logger: Logger(label: "t")))
            #expect(directory.keys.isEmpty && directory.isDisabled("gw-9"))
            await #expect(throws: RegistryError.lastKey("gw-9")) {
                try await store.changeRegistry(.removeKey(id: "gw-9", keyID: g.publicKey.keyID), at: now)
            }
            #expect(try await store.registeredGateways().first?.keys.count == 1, "a refused change leaves the registry as it was")
        }
    }

    @Test("a gateway's key cannot vouch for another gateway's alert", arguments: ReceiverEngine.allCases)
    func foreignGateway(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            #expect(try await post(to: intake, alert(1, gateway: "gw-2")).status == 401)
            #expect(try await store.alerts().isEmpty)
        }
    }

    @Test("the same sequence number under a new id is stored as a new alert and flagged, never refused", arguments: ReceiverEngine.allCases)
    func sequenceReuse(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            #expect(try await post(to: intake, alert(5)).status == 201)
            let again = try await post(to: intake, alert(5))
            #expect(again.status == 201)
            #expect(again.body.contains("was used before"))
            #expect(try await store.alerts().count == 2)
            #expect(try await store.events(after: 0).contains { $0.type == "seq-reuse" })
        }
    }

    @Test("malformed bodies and a nonce that is not the alert id are 400", arguments: ReceiverEngine.allCases)
    func malformed(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            #expect(try await post(to: intake, alert(1), body: Array("{\"id\":1}".utf8)).status == 400)
            #expect(try await post(to: intake, alert(1), body: Array("not json".utf8)).status == 400)
            #expect(try await post(to: intake, alert(1), nonce: "something-else").status == 400)
            #expect(try await post(to: intake, alert(0)).status == 400)
            #expect(try await store.alerts().isEmpty)
        }
    }

    @Test("a gap in sequence numbers is noticed and shown in status", arguments: ReceiverEngine.allCases)
    func gaps(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let intake = makeIntake(store)
            for s in [1, 2, 5, 6, 9] as [Int64] { #expect(try await post(to: intake, alert(s)).status == 201) }
            let status = try #require(try await store.status().first)
            #expect(status.gaps == [3...4, 7...8])
            #expect(try await store.events(after: 0).filter { $0.type == "gap" }.count == 2)
        }
    }
}
