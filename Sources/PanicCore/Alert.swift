/// One alert as accepted into the outbox and sent to receivers.
///
/// The JSON form (snake_case keys, times in RFC 3339 UTC with microseconds) is
/// the wire format of the uplink; `version` changes if it ever must.
public struct Alert: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public var version: Int
    /// UUIDv7, unique across gateways; the receiver de-duplicates on it.
    public var id: String
    public var gatewayID: String
    public var site: String
    /// Per gateway, strictly increasing, never reused (persisted).
    public var sequence: Int64
    public var kind: AlertKind
    /// For `.restore`: the kind that ended.
    public var restores: AlertKind?
    public var input: String?
    public var zone: Int?
    public var area: Int?
    /// First edge of the press, mapped from the monotonic clock to UTC.
    public var occurredAt: WallTime
    /// When the outbox transaction committed.
    public var acceptedAt: WallTime
    /// Whether the kernel reported the wall clock synchronised (adjtimex) when
    /// the alert was stamped; if not, `occurred_at` may be off.
    public var clockSynchronized: Bool
    /// A technician's test: to be logged, not dispatched on.
    public var test: Bool
    /// Free text: the trouble's cause, bounce figures, ...
    public var detail: String?
    /// `false` when the gateway accepted the alert while its disk would not
    /// take it: sent from memory, it would not have survived a restart of
    /// the gateway before it reached a receiver. Absent otherwise.
    public var durable: Bool?

    public init(
        version: Int = Alert.currentVersion, id: String, gatewayID: String, site: String,
        sequence: Int64, kind: AlertKind, restores: AlertKind? = nil, input: String? = nil,
        zone: Int? = nil, area: Int? = nil, occurredAt: WallTime, acceptedAt: WallTime,
        clockSynchronized: Bool, test: Bool = false, detail: String? = nil, durable: Bool? = nil
    ) {
        self.durable = durable
        self.version = version
        self.id = id
        self.gatewayID = gatewayID
        self.site = site
        self.sequence = sequence
        self.kind = kind
        self.restores = restores
        self.input = input
        self.zone = zone
        self.area = area
        self.occurredAt = occurredAt
        self.acceptedAt = acceptedAt
        self.clockSynchronized = clockSynchronized
        self.test = test
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case version, id, sequence, kind, restores, input, zone, area, test, detail, site, durable
        case gatewayID = "gateway_id"
        case occurredAt = "occurred_at"
        case acceptedAt = "accepted_at"
        case clockSynchronized = "clock_synchronized"
    }

    /// Alarms and restores of alarms travel first and are never evicted.
    public var priority: AlertPriority {
        if kind.isAlarm { return .alarm }
        if kind == .restore, let r = restores, r.isAlarm { return .alarm }
        return .telemetry
    }
}

/// An alert before the outbox gives it an id, a sequence number and its
/// acceptance time.
public struct AlertDraft: Sendable, Equatable {
    public var kind: AlertKind
    public var restores: AlertKind?
    public var input: String?
    public var zone: Int?
    public var area: Int?
    public var occurredAt: WallTime
    /// The monotonic stamp it came from, when it came from an edge.
    public var occurredMonotonic: MonotonicInstant?
    public var clockSynchronized: Bool
    public var test: Bool
    public var detail: String?

    public init(
        kind: AlertKind, restores: AlertKind? = nil, input: String? = nil, zone: Int? = nil,
        area: Int? = nil, occurredAt: WallTime, occurredMonotonic: MonotonicInstant? = nil,
        clockSynchronized: Bool, test: Bool = false, detail: String? = nil
    ) {
        self.kind = kind
        self.restores = restores
        self.input = input
        self.zone = zone
        self.area = area
        self.occurredAt = occurredAt
        self.occurredMonotonic = occurredMonotonic
        self.clockSynchronized = clockSynchronized
        self.test = test
        self.detail = detail
    }

    public var priority: AlertPriority {
        if kind.isAlarm { return .alarm }
        if kind == .restore, let r = restores, r.isAlarm { return .alarm }
        return .telemetry
    }
}
