import Foundation
import Logging
import PanicCore
import PanicReceiverKit
import PanicSigning
import Testing

/// Each test here is one of the ways the receiver was crashed or bypassed by
/// probing (issue #11): it must answer, not trap, and not be fooled.
@Suite("Receiver intake under hostile input")
struct HostileIntakeTests {
    let key = SigningKey.generate()
    let path = NSTemporaryDirectory() + "/hostile-" + UUID().uuidString + ".db"
    let store: SQLiteReceiverStore
    let now = WallTime(secondsSinceEpoch: 1_800_000_000)
    let ids = AlertIDGenerator()

    init() throws { store = try SQLiteReceiverStore(path: path) }

    func intake(keys: [(String, SigningKey)]? = nil, rate: Int = 1_000, burst: Int = 1_000) -> Intake {
        intake(store, keys: keys, rate: rate, burst: burst)
    }

    func intake(_ store: any ReceiverStore, keys: [(String, SigningKey)]? = nil, rate: Int = 1_000, burst: Int = 1_000) -> Intake {
        let trusted = (keys ?? [("gw-1", key)]).map { TrustedKey(gatewayID: $0.0, key: $0.1.publicKey) }
        return Intake(verifier: SignatureVerifier(trusted: trusted), store: store,
                      authorities: ReceiverAuthorities(configured: ["r:80"], scheme: "http"),
                      rateLimiter: GatewayRateLimiter(rate: rate, burst: burst), logger: Logger(label: "t"), observer: { _ in })
    }

    func alert(_ seq: Int64, _ change: (inout Alert) -> Void = { _ in }) -> Alert {
        var a = Alert(id: ids.next(at: now), gatewayID: "gw-1", site: "s", sequence: seq, kind: .panic, input: "b", zone: 1, area: 1,
                      occurredAt: now, acceptedAt: now, clockSynchronized: false)
        change(&a)
        return a
    }

    func beat(_ change: (inout Heartbeat) -> Void = { _ in }) -> Heartbeat {
        var b = Heartbeat(id: ids.next(at: now), gatewayID: "gw-1", site: "s", sentAt: now, intervalSeconds: 60, lastSequence: 0,
                          queue: [], inputs: [], clockSynchronized: true, evictedTelemetry: 0)
        change(&b)
        return b
    }

    func message(_ body: [UInt8], path: String, nonce: String, signer: SigningKey? = nil, target: String = "http://r",
                 created: Int64? = nil, editInput: (String) -> String = { $0 }) throws -> SignedMessage {
        let uri = target + path
        let h = try MessageSigner(key: signer ?? key).sign(method: "POST", targetURI: uri, contentType: "application/json",
                                                          body: body, created: created ?? now.secondsSinceEpoch, nonce: nonce)
        let headers = ["content-type": "application/json", "content-digest": h.contentDigest,
                       "signature-input": editInput(h.signatureInput), "signature": h.signature]
        return SignedMessage(method: "POST", targetURI: uri, body: body) { headers[$0] }
    }

    func post(_ i: Intake, _ a: Alert, signer: SigningKey? = nil, target: String = "http://r") async throws -> IntakeResponse {
        await i.alert(try message(try WireFormat.encode(a), path: "/v1/alerts", nonce: a.id, signer: signer, target: target), now: now)
    }

    func post(_ i: Intake, _ b: Heartbeat, signer: SigningKey? = nil) async throws -> IntakeResponse {
        await i.heartbeat(try message(try WireFormat.encode(b), path: "/v1/heartbeats", nonce: b.id, signer: signer), now: now)
    }

    @Test("created = Int64.min with a known keyid is refused as malformed, not a crash (#11.1)", arguments: ReceiverEngine.allCases)
    func createdAtTheEndOfInt64(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let i = intake(store)
            let a = alert(1)
            for created in ["-9223372036854775808", "9223372036854775807", "-1", "99999999999999999999"] {
                let m = try message(try WireFormat.encode(a), path: "/v1/alerts", nonce: a.id) {
                    $0.replacingOccurrences(of: "created=\(now.secondsSinceEpoch)", with: "created=\(created)")
                }
                let r = await i.alert(m, now: now)
                #expect(r.status == 400, "created=\(created): \(r.body)")
            }
            // In range but far outside the window: 401 naming the receiver's time.
            let old = await i.alert(try message(try WireFormat.encode(a), path: "/v1/alerts", nonce: a.id, created: 0), now: now)
            #expect(old.status == 401 && old.body.contains("server_time"))
            #expect(try await store.alerts().isEmpty)
        }
    }

    @Test("a sequence near Int64.max is refused; the gateway's next alert and a restart still work (#11.3)")
    func hugeSequence() async throws {
        let i = intake()
        #expect(try await post(i, alert(.max)).status == 400)
        #expect(try await post(i, alert(Int64(1) << 53 + 1)).status == 400)
        #expect(try await post(i, alert(Int64(1) << 53)).status == 201)
        #expect(try await post(i, alert(2)).status == 201)
        _ = try SQLiteReceiverStore(path: path)
        #expect(try await store.status().first?.alerts == 2)
    }

    @Test("rows an older version stored out of range (sequence Int64.max, interval 1e10) crash neither intake nor supervision (#11.3)")
    func outOfRangeRowsAlreadyStored() async throws {
        let i = intake()
        #expect(try await post(i, alert(1)).status == 201)
        #expect(try await post(i, beat()).status == 200)
        try sqlite("UPDATE alerts SET sequence = 9223372036854775807; UPDATE gateways SET interval_s = 10000000000, last_heartbeat_ns = -9223372036854775808")
        #expect(try await post(i, alert(5)).status == 201)
        _ = try await store.markSilent(now: now, afterIntervals: 3)
        _ = try await store.markSilent(now: WallTime(nanosecondsSinceEpoch: .max), afterIntervals: 100)
        #expect(try await store.status().count == 1)
    }

    @Test("out-of-range body fields are 400 and nothing is stored (#11.3)", arguments: ReceiverEngine.allCases)
    func bodyFields(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let i = intake(store)
            for change: (inout Alert) -> Void in [{ $0.zone = -5 }, { $0.area = 123_456 }, { $0.kind = .heartbeat }, { $0.version = 999 },
                                                   { $0.input = "x\u{1B}[2J" }, { $0.site = "fake\n2026 gw-2 ALERT" }] {
                #expect(try await post(i, alert(1, change)).status == 400)
            }
            let a = alert(1)
            for date in ["1677-09-22T00:00:00.000000Z", "2263-01-01T00:00:00.000000Z", "2026-02-31T00:00:00.000000Z"] {
                let body = String(decoding: try WireFormat.encode(a), as: UTF8.self).replacingOccurrences(of: a.occurredAt.rfc3339, with: date)
                #expect(await i.alert(try message(Array(body.utf8), path: "/v1/alerts", nonce: a.id), now: now).status == 400, "\(date)")
            }
            #expect(try await post(i, beat { $0.intervalSeconds = 3_100_000_000 }).status == 400)
            #expect(try await store.alerts().isEmpty)
            #expect(try await store.status().isEmpty)
        }
    }

    @Test("a key announced in a heartbeat is trusted only while its announcer is configured; it cannot announce another (#11.4)", arguments: ReceiverEngine.allCases)
    func keyRevocation(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let next = SigningKey.generate(), third = SigningKey.generate(), replacement = SigningKey.generate()
            let i = intake(store)
            #expect(try await post(i, beat { $0.nextPublicKey = next.publicKey.base64 }).status == 200)
            #expect(try await post(i, alert(1), signer: next).status == 201)
            // The announced key announces a third: ignored.
            #expect(try await post(i, beat { $0.nextPublicKey = third.publicKey.base64 }, signer: next).status == 200)
            #expect(try await post(i, alert(2), signer: third).status == 401)
            // The operator replaces the old key: what it announced is revoked with it.
            let replaced = intake(store, keys: [("gw-1", replacement)])
            #expect(try await post(replaced, alert(3), signer: next).status == 401)
            #expect(try await post(replaced, alert(4), signer: replacement).status == 201)
            // The gateway removed altogether: nothing it announced works either.
            let removed = intake(store, keys: [("gw-other", SigningKey.generate())])
            #expect(try await post(removed, alert(5), signer: next).status == 401)
        }
    }

    @Test("a newer announcement replaces the older: one announced key per gateway (#11.4)", arguments: ReceiverEngine.allCases)
    func oneAnnouncementPerGateway(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let first = SigningKey.generate(), second = SigningKey.generate()
            let i = intake(store)
            #expect(try await post(i, beat { $0.nextPublicKey = first.publicKey.base64 }).status == 200)
            #expect(try await post(i, beat { $0.nextPublicKey = second.publicKey.base64 }).status == 200)
            #expect(try await post(i, alert(1), signer: first).status == 401)
            #expect(try await post(i, alert(2), signer: second).status == 201)
            #expect(try await store.announcedKey(first.publicKey.keyID) == nil, "the older announcement is gone")
            #expect(try await store.announcedKey(second.publicKey.keyID)?.gatewayID == "gw-1")
        }
    }

    @Test("the same signed heartbeat twice counts once: a replay cannot hide silence (#11.10)", arguments: ReceiverEngine.allCases)
    func heartbeatReplay(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let i = intake(store)
            let b = beat()
            let m = try message(try WireFormat.encode(b), path: "/v1/heartbeats", nonce: b.id)
            #expect(await i.heartbeat(m, now: now).status == 200)
            let later = WallTime(secondsSinceEpoch: now.secondsSinceEpoch + 200)
            let replay = await i.heartbeat(m, now: later)
            #expect(replay.status == 200 && replay.body.contains("duplicate"))
            #expect(try await store.status().first?.lastHeartbeat == now)
            // A heartbeat whose nonce is not its id is malformed.
            let other = try message(try WireFormat.encode(beat()), path: "/v1/heartbeats", nonce: ids.next(at: now))
            #expect(await i.heartbeat(other, now: now).status == 400)
        }
    }

    @Test("a request signed for another receiver's authority is refused (#11.11)", arguments: ReceiverEngine.allCases)
    func targetURI(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let i = intake(store)
            #expect(try await post(i, alert(1), target: "http://other-receiver.example").status == 401)
            #expect(try await post(i, alert(1), target: "http://r:8080").status == 401)
            #expect(try await post(i, alert(1), target: "http://R:80").status == 201)
        }
    }

    /// A poll of a gateway's acknowledgements, from the gateway's key.
    func poll(_ i: Intake, known: [String: RemoteAlarmState] = [:], through: Int64 = 0, wait: Int = 20,
              stop: @escaping @Sendable () -> Bool = { false }) async throws -> IntakeResponse {
        let p = AcknowledgementPoll(id: ids.next(at: now), gatewayID: "gw-1", known: known, knownReceivedThrough: through, waitSeconds: wait)
        return await i.acknowledgements(try message(try WireFormat.encode(p), path: "/v1/acknowledgements", nonce: p.id), now: now, stop: stop)
    }

    @Test func acknowledgementPollsOfOneKeyAreHeldAtMostFourAtATime() async throws {
        let i = intake()
        // Six polls that know everything already, each willing to wait 20 s:
        // four are held (until the receiver stops them), two answered at once.
        // Told apart by order, not by a stopwatch: the held ones end only when
        // stopped, which the test does after two answers — or, if those never
        // come, a guard after 10 s, which fails the test.
        let stop = Locked(false), guardStopped = Locked(false)
        let (answers, heldAfterTwo) = try await withThrowingTaskGroup(of: IntakeResponse?.self) { group in
            for _ in 0..<6 { group.addTask { try await poll(i, wait: 20, stop: { stop.value }) } }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                if !stop.value { guardStopped.value = true; stop.value = true }
                return nil
            }
            var out: [IntakeResponse] = [], held: [Int] = []
            for try await a in group {
                guard let a else { continue }
                out.append(a)
                if out.count == 2 {
                    held.append(i.heldPolls.count("gw-1"))
                    stop.value = true
                }
                if out.count == 6 { group.cancelAll() }
            }
            return (out, held)
        }
        #expect(!guardStopped.value, "two polls beyond the cap were not answered at once")
        #expect(answers.count == 6 && answers.allSatisfy { $0.status == 200 })
        #expect(heldAfterTwo == [4], "when two were answered, four were held: \(heldAfterTwo)")
        #expect(i.heldPolls.count("gw-1") == 0, "every poll counted out")
    }

    @Test func anAcknowledgementPollIsRefusedForAnotherGatewayOrOutOfRange() async throws {
        let i = intake(keys: [("gw-1", key), ("gw-2", SigningKey.generate())])
        let p = AcknowledgementPoll(id: ids.next(at: now), gatewayID: "gw-2", known: [:], knownReceivedThrough: 0, waitSeconds: 0)
        let other = await i.acknowledgements(try message(try WireFormat.encode(p), path: "/v1/acknowledgements", nonce: p.id), now: now)
        #expect(other.status == 401, "gw-1's key asks for gw-2's acknowledgements: \(other.body)")
        #expect(try await poll(i, wait: 26).status == 400)
        #expect(try await poll(i, through: -1, wait: 0).status == 400)
        let answer = try await poll(i, wait: 0)
        #expect(answer.status == 200 && answer.body == #"{"inputs":{},"received_through":0}"#, "\(answer.body)")
    }

    @Test("a gateway over its rate gets 429 with Retry-After, and nothing more is stored (#11.13)", arguments: ReceiverEngine.allCases)
    func rateLimit(engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { (store: any ReceiverStore) async throws -> Void in
            let i = intake(store, rate: 1, burst: 3)
            for s in 1...3 { #expect(try await post(i, alert(Int64(s))).status == 201) }
            let r = try await post(i, alert(4))
            #expect(r.status == 429 && (r.retryAfterSeconds ?? 0) >= 1)
            #expect(try await store.alerts().count == 3)
        }
    }

    @Test("a token bucket refills at its rate, caps at its burst, and never runs backwards with the clock")
    func tokenBucket() {
        var b = TokenBucket(rate: 10, burst: 2, now: 0)
        #expect(b.take(now: 0) == nil && b.take(now: 0) == nil)
        let wait = b.take(now: 0)
        #expect(wait != nil && wait! > 90_000_000 && wait! <= 101_000_000)
        #expect(b.take(now: 100_000_000) == nil)
        #expect(b.take(now: 50_000_000) != nil)   // a clock stepped back refills nothing
        #expect(b.take(now: 10_000_000_000) == nil && b.take(now: 10_000_000_000) == nil && b.take(now: 10_000_000_000) != nil)
        var huge = TokenBucket(rate: 100_000, burst: 1_000_000, now: .min)
        #expect(huge.take(now: .max) == nil)
    }

    func sqlite(_ sql: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path, sql]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "sqlite3 \(sql)")
    }

    func sqliteRows(_ sql: String) throws -> String {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path, sql]
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
