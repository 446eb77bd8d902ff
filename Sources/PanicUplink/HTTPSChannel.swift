import Foundation
import NIOCore
import NIOFoundationCompat
import PanicConfig
import PanicCore
import PanicDelivery
import PanicOutbox

/// The signed-HTTPS destination as a delivery channel: one signed POST of an
/// alert or a heartbeat per attempt, its answer classified. The queue, the
/// back-off and the clock correction are the `DeliveryService`'s.
///
/// - A 2xx is delivered; a 4xx is a refusal (a 401 naming `server_time` is
///   a refusal of the signature's time, corrected once); a 429/503 with
///   `Retry-After` is a requested pause; anything else (no connection,
///   timeout, 5xx) is a failure.
public final class HTTPSChannel: DeliveryChannel {
    public let config: UplinkConfig
    public let transport: HTTPSTransport
    private let clock: any GatewayClock
    private let makeHeartbeat: @Sendable () -> Heartbeat?
    /// The index of the URL that answered last: the next request starts there.
    private let answering = Locked(0)
    /// Whether the receiver takes batches (until it says it does not).
    private let batching = Locked(true)
    /// Sent in every heartbeat until one is acknowledged (2xx): the receiver
    /// records the restart once per start (twice at most, when an answer is lost).
    private let restartToReport: Locked<Heartbeat.RestartNotice?>

    public init(config: UplinkConfig, signer: SignerBox, clock: any GatewayClock, heartbeat: @escaping @Sendable () -> Heartbeat?,
                restart: Heartbeat.RestartNotice? = nil) throws {
        self.config = config
        self.transport = try HTTPSTransport(config: config, signer: signer)
        self.clock = clock
        self.makeHeartbeat = heartbeat
        self.restartToReport = Locked(restart)
    }

    public var destination: String { config.name }
    public var kind: String { "https" }
    /// The receiver URL that answered last (with several, which of them).
    public var target: String {
        let urls = config.urls, i = answering.value
        return urls.count == 1 ? urls[0] : "\(urls[i]) (\(i + 1) of \(urls.count))"
    }
    public var policy: DeliveryPolicy {
        DeliveryPolicy(backoff: config.backoff, heartbeatInterval: .seconds(Int64(config.heartbeatIntervalSeconds)),
                       clockTolerance: .seconds(5), maxClockCorrections: 1)
    }

    public func close() async { await transport.shutdown() }

    public func deliver(_ alert: PendingAlert, on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        await postOne("/v1/alerts", body: alert.body, nonce: alert.id, clockOffset: clockOffset)
    }

    /// One signed request whose answer is its status alone.
    private func postOne(_ path: String, body: [UInt8], nonce: String, clockOffset: Nanoseconds) async -> AttemptResult {
        let (outcome, serverTime, _) = await post(path, body: body, nonce: nonce, clockOffset: clockOffset)
        if Task.isCancelled, case .failed = outcome { return .cancelled }
        return Self.result(outcome, serverTime: serverTime)
    }

    /// The most bytes one batch request carries (under the receiver's
    /// default 64 KiB `max_body_bytes`); how many alerts is `batch_max_alerts`.
    public static let maximumBatchBytes = 48 * 1024

    public var batchLimit: Int { batching.value ? max(1, config.batchMaximumAlerts) : 1 }

    /// A backlog in one signed request to `/v1/alerts/batch`: the alerts'
    /// stored bytes, one per line, as many as fit in `maximumBatchBytes`;
    /// the receiver stores them in one transaction and answers for each.
    /// A receiver without the route (404, 405), refusing the size (413) or
    /// the type (415, a proxy in front of it), or answering 2xx with no
    /// batch answer, gets alerts one at a time from then on.
    public func deliver(batch: [PendingAlert], on path: DeliveryPath, clockOffset: Nanoseconds) async -> BatchAttemptResult {
        var lines: [PendingAlert] = []
        var size = 0
        for alert in batch {
            // Our encoder writes no raw newline; a body with one goes alone.
            if alert.body.contains(UInt8(ascii: "\n")) { break }
            if !lines.isEmpty && size + alert.body.count + 1 > Self.maximumBatchBytes { break }
            lines.append(alert)
            size += alert.body.count + 1
        }
        guard lines.count > 1 else { return .unsupported }
        var body: [UInt8] = []
        body.reserveCapacity(size)
        for alert in lines { body += alert.body; body.append(UInt8(ascii: "\n")) }
        let (outcome, serverTime, answer) = await post("/v1/alerts/batch", body: body, nonce: lines[0].id, clockOffset: clockOffset, contentType: "application/x-ndjson")
        if Task.isCancelled, case .failed = outcome { return .whole(.cancelled) }
        switch outcome {
        case .refused(let status, _) where [404, 405, 413, 415].contains(status):
            batching.value = false
            return .unsupported
        case .accepted:
            guard let results = Self.batchResults(answer, ids: lines.map(\.id)) else {
                // A 2xx that is no batch answer: something that does not know
                // batches (an older receiver's catch-all, a proxy). Whether it
                // kept them is unknown, so each goes again alone — a receiver
                // that did store one answers that copy 200 — and never again
                // as a batch. Counted a failure, this would retry for ever.
                batching.value = false
                return .unsupported
            }
            return .each(results)
        default:
            return .whole(Self.result(outcome, serverTime: serverTime))
        }
    }

    /// The receiver's per-alert answers (`BatchAnswer`: one per alert sent,
    /// in order, naming them), each classified as a single answer would be.
    static func batchResults(_ answer: ByteBuffer, ids: [String]) -> [AttemptResult]? {
        guard let entries = BatchAnswer.parse(Array(buffer: answer), ids: ids) else { return nil }
        return entries.map { Self.result(HTTPOutcome.classify(status: $0.status, body: $0.error ?? ""), serverTime: nil) }
    }

    public func heartbeat(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        guard var beat = makeHeartbeat() else { return .refused("no heartbeat to send") }
        let restart = restartToReport.value
        beat.restart = restart
        let body: [UInt8]
        do { body = try WireFormat.encode(beat) } catch { return .refused("heartbeat cannot be encoded: \(error)") }
        let result = await postOne("/v1/heartbeats", body: body, nonce: beat.id, clockOffset: clockOffset)
        if restart != nil, case .delivered = result { restartToReport.value = nil }
        return result
    }

    private func post(
        _ path: String, body: [UInt8], nonce: String, clockOffset: Nanoseconds, contentType: String = "application/json"
    ) async -> (HTTPOutcome, Int64?, ByteBuffer) {
        // Several URLs of one receiver (replicas on one database): the same
        // request, re-signed for each, goes to the next one when one is down,
        // answers 5xx or asks for a pause — one alert at a time, so order
        // holds, and a copy that did arrive is a duplicate (200) there.
        let count = transport.baseURLs.count, start = answering.value
        var failures: [String] = []
        for step in 0..<count {
            let index = (start + step) % count
            let created = (clock.wallNow() + clockOffset).secondsSinceEpoch
            let (outcome, serverTime, answer) = await transport.send(path: path, body: body, nonce: nonce, created: created, to: index, contentType: contentType)
            if Task.isCancelled, case .failed = outcome { return (outcome, nil, answer) }
            switch outcome {
            case .failed(let reason) where step < count - 1:
                failures.append("\(transport.baseURLs[index]): \(reason)")
                continue
            case .throttled(_, let reason) where step < count - 1:
                failures.append("\(transport.baseURLs[index]): \(reason)")
                continue
            case .failed(let reason) where count > 1:
                return (.failed(reason: (failures + ["\(transport.baseURLs[index]): \(reason)"]).joined(separator: "; ")), nil, answer)
            case .failed, .throttled:
                return (outcome, serverTime, answer)
            case .accepted, .refused:
                answering.value = index
                return (outcome, serverTime, answer)
            }
        }
        return (.failed(reason: "no receiver URL"), nil, ByteBuffer())
    }

    /// An HTTP outcome as a delivery result.
    public static func result(_ outcome: HTTPOutcome, serverTime: Int64?) -> AttemptResult {
        switch outcome {
        case .accepted: return .delivered
        case .refused(401, let reason) where serverTime != nil:
            return .clockRefused(receiverTime: WallTime(secondsSinceEpoch: serverTime!), otherwise: reason)
        case .refused(_, let reason): return .refused(reason)
        case .throttled(let seconds, let reason): return .throttled(.seconds(Int64(seconds)), reason)
        case .failed(let reason):
            let cause = reason.hasPrefix("TLS") ? "tls" : reason.contains("timeout") ? "timeout" : reason.hasPrefix("HTTP") ? "server" : "unreachable"
            return .failed(reason, cause: cause)
        }
    }
}
