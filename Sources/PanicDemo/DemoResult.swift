/// The figures `panic-gateway demo --json` ends with.
public struct DemoResult: Codable, Sendable {
    /// Physical presses simulated (each press and release is one alert pair).
    public var pressed: Int
    /// Alerts the gateway accepted into its outbox.
    public var accepted: Int
    /// Distinct alerts whose signature the receiver verified and stored.
    public var verified: Int
    /// Of those, accepted while the receiver was offline and delivered after.
    public var deliveredAfterOutage: Int
    /// Accepted alerts that never reached the receiver.
    public var lost: Int
    /// Whether each gateway's alerts arrived in sequence order per priority class.
    public var inOrder: Bool
    public var latencyP50Ms: Double
    public var latencyMaxMs: Double
    /// How long the receiver was offline.
    public var outageSeconds: Double

    enum CodingKeys: String, CodingKey {
        case pressed, accepted, verified, lost
        case deliveredAfterOutage = "delivered_after_outage"
        case inOrder = "in_order"
        case latencyP50Ms = "latency_online_p50_ms"
        case latencyMaxMs = "latency_online_max_ms"
        case outageSeconds = "outage_s"
    }
}
