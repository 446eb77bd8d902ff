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

    /// What a gateway says in its first heartbeats after it started, until one
    /// is acknowledged: when it started and how its previous run ended. A run
    /// that ended without a graceful shutdown (a crash, systemd's watchdog,
    /// `kill -9`, a power cut) is `unclean`.
    public struct RestartNotice: Codable, Sendable, Equatable {
        /// `clean` (a graceful stop, or the first start) or `unclean`.
        public var previousStop: String
        public var startedAt: WallTime
        public init(previousStop: String, startedAt: WallTime) {
            self.previousStop = previousStop
            self.startedAt = startedAt
        }
        public static let clean = "clean", unclean = "unclean"
        enum CodingKeys: String, CodingKey {
            case previousStop = "previous_stop"
            case startedAt = "started_at"
        }
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
    /// Set in the heartbeats after a start until one is acknowledged (absent
    /// from older gateways).
    public var restart: RestartNotice?

    public init(
        id: String, gatewayID: String, site: String, sentAt: WallTime, intervalSeconds: Int,
        lastSequence: Int64, queue: [QueueState], inputs: [InputState], clockSynchronized: Bool,
        evictedTelemetry: Int64, nextPublicKey: String? = nil, restart: RestartNotice? = nil
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
        self.restart = restart
    }

    enum CodingKeys: String, CodingKey {
        case version, id, kind, site, queue, inputs, restart
        case gatewayID = "gateway_id"
        case sentAt = "sent_at"
        case intervalSeconds = "interval_s"
        case lastSequence = "last_sequence"
        case clockSynchronized = "clock_synchronized"
        case evictedTelemetry = "evicted_telemetry"
        case nextPublicKey = "next_public_key"
    }
}
