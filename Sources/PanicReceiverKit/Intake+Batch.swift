import Foundation
import PanicCore
import PanicSigning

/// A backlog drained in batches: several alerts of one gateway in one signed
/// request (`POST /v1/alerts/batch`), stored in one transaction, answered
/// per alert.
///
/// The body is the alerts' exact bytes, one per line (`application/x-ndjson`;
/// the gateway's JSON has no raw newline in it), in the order they are to be
/// stored. The signature covers the whole body; its nonce is the first
/// alert's id. Each line is decoded and range-checked as a single alert is.
/// The answer is 200 with `{"results": [{"id", "status", ...}, ...]}`, one
/// entry per line in order — the status each would have had alone: 201 new,
/// 200 duplicate, 400 malformed, 401 another gateway's — or, when the
/// request as a whole is refused (signature, rate, storage), that status
/// alone, and nothing of it stored.
extension Intake {
    /// One line of a batch refused on its own.
    struct Refusal: Error {
        var status: Int
        var id: String?
        var error: String
    }

    /// Most alerts one batch may carry.
    public static let maximumBatchAlerts = 1_000

    public func alertBatch(_ message: SignedMessage, now: WallTime) async -> IntakeResponse {
        let verified: Verified
        switch await verify(message, now: now) {
        case .success(let v): verified = v
        case .failure(let r): return r
        }
        var lines = message.body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard !lines.isEmpty else { return reject(400, "batch has no alerts") }
        guard lines.count <= Self.maximumBatchAlerts else { return reject(413, "batch of \(lines.count) alerts; at most \(Self.maximumBatchAlerts)") }

        // Each line as a single alert would be checked; a bad one is refused
        // alone and the rest are stored.
        var items: [Result<AlertToStore, Refusal>] = []
        items.reserveCapacity(lines.count)
        for line in lines {
            let body = Array(line)
            guard let alert = try? WireFormat.decode(Alert.self, from: body) else {
                items.append(.failure(Refusal(status: 400, id: nil, error: "line is not an alert")))
                continue
            }
            if alert.gatewayID != verified.signature.gatewayID {
                items.append(.failure(Refusal(status: 401, id: alert.id, error: "key \(verified.signature.keyID) belongs to gateway \(verified.signature.gatewayID), not \(alert.gatewayID)".escapingControlCharacters)))
            } else if let problem = alert.wireProblem() {
                items.append(.failure(Refusal(status: 400, id: alert.id, error: problem.escapingControlCharacters)))
            } else {
                items.append(.success(AlertToStore(alert: alert, body: body)))
            }
        }
        guard case .success(let first) = items[0], verified.signature.nonce == first.alert.id else {
            return reject(400, "a batch's signature nonce must be the id of its first alert, and that line an alert")
        }
        // One request, one token: a gateway draining its backlog is not
        // throttled per alert (the batch's size is bounded above).
        if let wait = rateLimiter.admit(first.alert.gatewayID, now: now.nanosecondsSinceEpoch) { return tooMany(first.alert.gatewayID, wait) }

        let toStore = items.compactMap { if case .success(let a) = $0 { a } else { nil } }
        let outcomes: [StoreOutcome]
        do {
            outcomes = try await store.store(batch: toStore, keyID: verified.signature.keyID, at: now)
        } catch {
            logger.error("cannot store a batch of alerts", metadata: ["error": "\(error)", "alerts": "\(toStore.count)"])
            return .json(503, ["error": "storage unavailable"], retryAfter: 5)
        }
        guard outcomes.count == toStore.count else { return .json(503, ["error": "storage answered \(outcomes.count) of \(toStore.count)"], retryAfter: 5) }

        var results: [[String: Any]] = []
        results.reserveCapacity(items.count)
        var next = outcomes.makeIterator()
        var refused = 0
        for item in items {
            switch item {
            case .failure(let r):
                refused += 1
                var entry: [String: Any] = ["status": r.status, "error": r.error]
                if let id = r.id { entry["id"] = id }
                results.append(entry)
            case .success(let a):
                let (status, warning) = announce(next.next() ?? .duplicate, a.alert, now: now)
                var entry: [String: Any] = ["id": a.alert.id, "status": status]
                if let warning { entry["warning"] = warning }
                results.append(entry)
            }
        }
        if refused > 0 {
            logger.warning("alerts of a batch refused", metadata: ["gateway.id": "\(first.alert.gatewayID)", "refused": "\(refused)", "of": "\(items.count)"])
            observer(.rejected(reason: "\(refused) of \(items.count) alerts of a batch", status: 400))
        }
        let data = (try? JSONSerialization.data(withJSONObject: ["results": results], options: [.sortedKeys])) ?? Data("{}".utf8)
        return IntakeResponse(status: 200, body: String(decoding: data, as: UTF8.self), retryAfterSeconds: nil)
    }
}
