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

    public static func classify(status: Int, body: String) -> DeliveryOutcome {
        switch status {
        case 200..<300: .accepted(status: status)
        case 408, 429: .failed(reason: "HTTP \(status)")
        case 400..<500: .refused(status: status, reason: "HTTP \(status): \(body.prefix(200))")
        default: .failed(reason: "HTTP \(status): \(body.prefix(200))")
        }
    }
}
