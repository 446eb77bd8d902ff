import Foundation
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

    public init(config: UplinkConfig, signer: SignerBox, clock: any GatewayClock, heartbeat: @escaping @Sendable () -> Heartbeat?) throws {
        self.config = config
        self.transport = try HTTPSTransport(config: config, signer: signer)
        self.clock = clock
        self.makeHeartbeat = heartbeat
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
        await post("/v1/alerts", body: alert.body, nonce: alert.id, clockOffset: clockOffset)
    }

    public func heartbeat(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        guard let beat = makeHeartbeat() else { return .refused("no heartbeat to send") }
        let body: [UInt8]
        do { body = try WireFormat.encode(beat) } catch { return .refused("heartbeat cannot be encoded: \(error)") }
        return await post("/v1/heartbeats", body: body, nonce: beat.id, clockOffset: clockOffset)
    }

    private func post(_ path: String, body: [UInt8], nonce: String, clockOffset: Nanoseconds) async -> AttemptResult {
        // Several URLs of one receiver (replicas on one database): the same
        // request, re-signed for each, goes to the next one when one is down,
        // answers 5xx or asks for a pause — one alert at a time, so order
        // holds, and a copy that did arrive is a duplicate (200) there.
        let count = transport.baseURLs.count, start = answering.value
        var failures: [String] = []
        for step in 0..<count {
            let index = (start + step) % count
            let created = (clock.wallNow() + clockOffset).secondsSinceEpoch
            let (outcome, serverTime) = await transport.send(path: path, body: body, nonce: nonce, created: created, to: index)
            if Task.isCancelled, case .failed = outcome { return .cancelled }
            switch outcome {
            case .failed(let reason) where step < count - 1:
                failures.append("\(transport.baseURLs[index]): \(reason)")
                continue
            case .throttled(_, let reason) where step < count - 1:
                failures.append("\(transport.baseURLs[index]): \(reason)")
                continue
            case .failed(let reason) where count > 1:
                return Self.result(.failed(reason: (failures + ["\(transport.baseURLs[index]): \(reason)"]).joined(separator: "; ")), serverTime: nil)
            case .failed, .throttled:
                return Self.result(outcome, serverTime: serverTime)
            case .accepted, .refused:
                answering.value = index
                return Self.result(outcome, serverTime: serverTime)
            }
        }
        return .failed("no receiver URL", cause: "unreachable")
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
