/// The periodic signed message that tells the receiver the gateway and its
/// path are alive, and what is waiting.
public struct Heartbeat: Codable, Sendable, Equatable {
    public struct QueueState: Codable, Sendable, Equatable {
        public var destination: String
        public var pending: Int
        public var oldestPendingAgeSeconds: Double?
        public init(destination: String, pending: Int, oldestPendingAgeSeconds: Double?) {
            self.destination = destination
            self.pending = pending
            self.oldestPendingAgeSeconds = oldestPendingAgeSeconds
        }
        enum CodingKeys: String, CodingKey {
            case destination, pending
            case oldestPendingAgeSeconds = "oldest_pending_age_s"
        }
    }

    public struct InputState: Codable, Sendable, Equatable {
        public var name: String
        /// `idle`, `pressed` or `trouble`.
        public var state: String
        public init(name: String, state: String) { self.name = name; self.state = state }
    }

    public var version: Int
    /// A fresh UUIDv7: the signature's nonce.
    public var id: String
    public var kind: AlertKind
    public var gatewayID: String
    public var site: String
    public var sentAt: WallTime
    /// Seconds until the next heartbeat is due; the receiver's silence timer.
    public var intervalSeconds: Int
    /// Highest sequence number accepted so far (0 if none).
    public var lastSequence: Int64
    public var queue: [QueueState]
    public var inputs: [InputState]
    public var clockSynchronized: Bool
    public var evictedTelemetry: Int64
    /// During a key rotation: the public key (base64) that will sign next,
    /// announced under the current key's signature.
    public var nextPublicKey: String?

    public init(
        id: String, gatewayID: String, site: String, sentAt: WallTime, intervalSeconds: Int,
        lastSequence: Int64, queue: [QueueState], inputs: [InputState], clockSynchronized: Bool,
        evictedTelemetry: Int64, nextPublicKey: String? = nil
    ) {
        self.version = 1
        self.id = id
        self.kind = .heartbeat
        self.gatewayID = gatewayID
        self.site = site
        self.sentAt = sentAt
        self.intervalSeconds = intervalSeconds
        self.lastSequence = lastSequence
        self.queue = queue
        self.inputs = inputs
        self.clockSynchronized = clockSynchronized
        self.evictedTelemetry = evictedTelemetry
        self.nextPublicKey = nextPublicKey
    }

    enum CodingKeys: String, CodingKey {
        case version, id, kind, site, queue, inputs
        case gatewayID = "gateway_id"
        case sentAt = "sent_at"
        case intervalSeconds = "interval_s"
        case lastSequence = "last_sequence"
        case clockSynchronized = "clock_synchronized"
        case evictedTelemetry = "evicted_telemetry"
        case nextPublicKey = "next_public_key"
    }
}
