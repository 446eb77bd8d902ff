import Foundation
import PanicCore

/// What an HTTP request to a receiver came to (`HTTPSChannel` turns it
/// into the delivery's `AttemptResult`).
public enum HTTPOutcome: Sendable, Equatable {
    /// 2xx: the receiver has it.
    case accepted(status: Int)
    /// 4xx: the receiver will not take it as sent; kept and retried slowly.
    case refused(status: Int, reason: String)
    /// No answer, a 5xx, 408 or 429: the path is down; back off and retry.
    case failed(reason: String)
    /// 429 or 503 with `Retry-After`: the receiver asks for that many seconds.
    case throttled(seconds: Int, reason: String)

    /// The `Retry-After` seconds honoured (a longer one is cut to the
    /// destination's back-off cap by `DeliveryState`; an HTTP-date is not used).
    public static let retryAfterRange = 0...86_400

    public static func classify(status: Int, body: String, retryAfter: String? = nil) -> HTTPOutcome {
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
