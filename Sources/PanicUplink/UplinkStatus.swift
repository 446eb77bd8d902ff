import Foundation
import PanicCore

/// One destination's health, for status, heartbeats and logs.
public struct UplinkStatus: Sendable, Equatable {
    public var name: String
    public var lastSuccess: WallTime?
    public var lastError: String?
    public var lastErrorAt: WallTime?
    /// Transport failures in a row (connection refused, timeouts, 5xx).
    public var consecutiveFailures: Int
    /// Not tried again before this, unless alarms arrive.
    public var backoffUntil: WallTime?
    /// Set while the destination refuses alerts (4xx): trouble until it accepts again.
    public var refusal: String?
    public var lastHeartbeatAcknowledged: WallTime?
    public var delivered: Int
}

/// What a delivery attempt came to.
public enum DeliveryOutcome: Sendable, Equatable {
    /// 2xx: the receiver has it.
    case accepted(status: Int)
    /// 4xx: the receiver will not take it as sent; kept and retried slowly.
    case refused(status: Int, reason: String)
    /// No answer, a 5xx, 408 or 429: the path is down; back off and retry.
    case failed(reason: String)
    /// 429 or 503 with `Retry-After`: the receiver asks for that many seconds.
    case throttled(seconds: Int, reason: String)

    /// The `Retry-After` seconds honoured (a longer one is cut to the
    /// destination's back-off cap by the service; an HTTP-date is not used).
    public static let retryAfterRange = 0...86_400

    public static func classify(status: Int, body: String, retryAfter: String? = nil) -> DeliveryOutcome {
        if status == 429 || status == 503, let text = retryAfter?.trimmingCharacters(in: .whitespaces),
           let seconds = Int(text), retryAfterRange.contains(seconds) {
            return .throttled(seconds: seconds, reason: "HTTP \(status): retry after \(seconds) s")
        }
        return switch status {
        case 200..<300: .accepted(status: status)
        case 408, 429: .failed(reason: "HTTP \(status)")
        // The body is the receiver's (or whatever terminates TLS for it): no
        // control character of it reaches the log or the status.
        case 400..<500: .refused(status: status, reason: "HTTP \(status): \(String(body.prefix(200)).escapingControlCharacters)")
        default: .failed(reason: "HTTP \(status): \(String(body.prefix(200)).escapingControlCharacters)")
        }
    }
}
