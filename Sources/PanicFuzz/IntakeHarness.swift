// The receiver's intake. Kept apart from the other harnesses: Intake's
// initialiser is still moving; if it changes, only this file needs fixing.
import Foundation
import PanicCore
import PanicReceiverKit
import PanicSigning

/// `intake`: Intake (authority check, verify, decode, range-check, store,
/// answer) on a temporary SQLite file, the body being the input. Each body
/// is signed validly — with `nonce` and the trusted gateway taken from the
/// body's own `id` and `gateway_id`, so that well-formed alerts and
/// heartbeats get all the way into the store — and sent as a heartbeat, as
/// an alert (twice: the second is a duplicate) and as an alert signed with
/// the key a heartbeat may announce. Every answer must be one of the
/// documented statuses, never a storage failure, and what was stored must
/// read back.
///
/// The store is reused for 256 inputs (a fresh one per input costs more than
/// the input); set PANIC_FUZZ_INTAKE_FRESH=1 to open a new one for every
/// input when reproducing. The files live in /dev/shm/panic-fuzz-intake-PID,
/// removed at exit (and by scripts/fuzz.sh when a crash left them behind).
private struct IDOnly: Decodable { var id: String }
private struct BatchStatuses: Decodable {
    struct Entry: Decodable { var status: Int }
    var results: [Entry]
}

enum IntakeHarness {
    static let directory: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = base + "/panic-fuzz-intake-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { IntakeHarness.removeDirectory() }  // libFuzzer ends a timed run with exit()
        return dir
    }()

    static func removeDirectory() {
        store = nil
        try? FileManager.default.removeItem(atPath: directory)
    }
    static let fresh = ProcessInfo.processInfo.environment["PANIC_FUZZ_INTAKE_FRESH"] == "1"
    static let authorities = ReceiverAuthorities(configured: ["receiver.example:8443"], scheme: "https")
    nonisolated(unsafe) static var store: SQLiteReceiverStore?
    nonisolated(unsafe) static var uses = 0

    static func currentStore() -> SQLiteReceiverStore {
        if let s = store, !fresh, uses < 256 { uses += 1; return s }
        store = nil  // closes the pool before its files go
        for suffix in ["", "-wal", "-shm"] { unlink(directory + "/receiver.db" + suffix) }
        do { store = try SQLiteReceiverStore(path: directory + "/receiver.db") } catch {
            fatalError("cannot open the receiver store in \(directory): \(error)")
        }
        uses = 1
        return store!
    }

    static let allowed: Set<Int> = [200, 201, 400, 401, 429]

    static func run(_ data: [UInt8]) {
        let store = currentStore()
        // Sign for the body's own claims, so good bodies pass the identity checks.
        let object = (try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed])) as? [String: Any]
        let id = object?["id"] as? String ?? "019a7b3c-1d2e-7f00-8a00-000000000001"
        let claimed = object?["gateway_id"] as? String ?? Fixed.gatewayID
        let gatewayID = claimed.isEmpty || claimed.utf8.count > 200 ? Fixed.gatewayID : claimed
        let verifier = SignatureVerifier(trusted: [TrustedKey(gatewayID: gatewayID, key: Fixed.signingKey.publicKey)])
        let intake = Intake(
            verifier: verifier, store: store, authorities: authorities,
            rateLimiter: GatewayRateLimiter(rate: 1_000_000, burst: 1_000_000),
            logger: Fixed.logger, observer: { _ in })
        let now = Fixed.now
        var stored = false
        func check(_ r: IntakeResponse, _ what: String) {
            note("\(what): \(r.status) \(r.body)")
            require(allowed.contains(r.status), "\(what): status \(r.status) \(r.body)")
            if r.status == 201 { stored = true }
        }
        check(blocking { await intake.heartbeat(signed(data, uri: Fixed.heartbeatsURI, nonce: id), now: now) }, "heartbeat")
        check(blocking { await intake.heartbeat(signed(data, uri: Fixed.heartbeatsURI, nonce: id), now: now) }, "replayed heartbeat")
        check(blocking { await intake.alert(signed(data, uri: Fixed.alertsURI, nonce: id), now: now) }, "alert")
        let again = blocking { await intake.alert(signed(data, uri: Fixed.alertsURI, nonce: id), now: now) }
        check(again, "repeated alert")
        require(!stored || again.status == 200, "a repeated alert was not a duplicate: \(again.status) \(again.body)")
        check(blocking { await intake.alert(signed(data, uri: Fixed.alertsURI, nonce: id, signer: Fixed.nextSigner), now: now) }, "alert under the announced key")
        check(blocking { await intake.alert(signed(data, uri: "https://elsewhere.example/v1/alerts", nonce: id), now: now) }, "alert for another receiver")
        // The same bytes as a gateway's acknowledgement poll (never held: `stop`).
        check(blocking { await intake.acknowledgements(signed(data, uri: Fixed.acknowledgementsURI, nonce: id), now: now, stop: { true }) }, "acknowledgement poll")
        // The same bytes as a batch (its lines the alerts), nonce the first line's id.
        let firstLine = Array(data.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? [])
        // Decodable, not JSONSerialization.jsonObject: under LeakSanitizer
        // the latter leaks a Data per call in swift-corelibs-foundation.
        let firstID = (try? JSONDecoder().decode(IDOnly.self, from: Data(firstLine)))?.id ?? id
        let batch = blocking { await intake.alertBatch(signed(data, uri: Fixed.alertsBatchURI, nonce: firstID), now: now) }
        note("batch: \(batch.status) \(batch.body)")
        require(allowed.contains(batch.status) || batch.status == 413, "batch: status \(batch.status) \(batch.body)")
        if batch.status == 200 {
            let results = (try? JSONDecoder().decode(BatchStatuses.self, from: Data(batch.body.utf8)))?.results
            var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            if lines.last?.isEmpty == true { lines.removeLast() }
            require(results?.count == lines.count, "batch: \(results?.count ?? -1) results for \(lines.count) lines")
            for r in results ?? [] {
                let status = r.status
                require(allowed.contains(status), "batch: an entry's status \(status)")
                if status == 201 { stored = true }
            }
        }

        if stored {
            do {
                let alerts = try blocking { try await store.alerts(gatewayID: gatewayID) }.get()
                require(!alerts.isEmpty, "a created alert is not in the store")
                _ = try blocking { try await store.status() }.get()
                _ = try blocking { try await store.events(after: 0, limit: 50) }.get()
            } catch {
                fatalError("fuzz property violated: the store cannot read back what it accepted: \(error)")
            }
        }
        _ = blocking { try await store.markSilent(now: now + .seconds(3600), afterIntervals: 3, notBefore: WallTime(nanosecondsSinceEpoch: 0)) }
    }
}
