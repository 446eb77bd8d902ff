import PanicCore

/// What the receiver keeps, whichever database holds it: alerts unique on
/// (gateway id, alert id), each gateway's supervision state, the gateways
/// and keys registered at the receiver, and an event log for `tail`.
///
/// Two engines: `SQLiteReceiverStore` (one process, the embedded default)
/// and `PostgresReceiverStore` (several replicas on one database). Every
/// write that decides something — new or duplicate, gap or reuse, silent or
/// back — is decided inside one transaction by the database, never by a
/// read followed by a write in another, so replicas cannot both decide it.
public protocol ReceiverStore: ConsoleStore {
    /// `sqlite` or `postgresql`, for logs and `/readyz`.
    var engine: String { get }

    /// The schema version of the database (the engine's `current` once migrated).
    func schemaVersion() async throws -> Int

    /// Throws unless the database answers and its schema is the one this build knows.
    func checkReady() async throws

    /// Stores a verified alert unless (gateway, id) is known. Returns only
    /// after the transaction has committed durably.
    func store(_ alert: Alert, body: [UInt8], keyID: String, at now: WallTime) async throws -> StoreOutcome

    /// Stores several alerts of one gateway, signed together, in one
    /// transaction and in the order given: each outcome as `store` would
    /// give it had they come one after another. Throws, and stores none,
    /// when the transaction does not commit.
    func store(batch: [AlertToStore], keyID: String, at now: WallTime) async throws -> [StoreOutcome]

    /// Records a heartbeat whose nonce (its id) was not seen before: true if
    /// the gateway was silent until now, false if not, nil for a replay
    /// (nothing recorded). Nonces older than `forgetNoncesBefore` (Unix
    /// seconds) may be forgotten: their signatures are refused anyway.
    func recordHeartbeat(_ beat: Heartbeat, at now: WallTime, nonceCreated: Int64, forgetNoncesBefore: Int64) async throws -> Bool?

    /// Records the next key a gateway announced under the signature of
    /// `announcedBy`; replaces any earlier announcement of that gateway.
    /// True when it is new.
    @discardableResult
    func announceKey(gatewayID: String, keyID: String, publicKey: String, announcedBy: String, at now: WallTime) async throws -> Bool

    /// An announced key by its keyid.
    func announcedKey(_ keyID: String) async throws -> AnnouncedKey?

    /// Marks gateways silent whose heartbeats are overdue, counting from the
    /// later of their last heartbeat and `watchStart`; returns the ids this
    /// call marked (each silent episode is marked by exactly one caller).
    func markSilent(now: WallTime, afterIntervals n: Int, notBefore watchStart: WallTime) async throws -> [String]

    /// Forgets heartbeat nonces created before `before` (Unix seconds).
    func forgetNonces(before: Int64) async throws

    /// Events after `number`, oldest first, at most `limit`.
    func events(after number: Int64, limit: Int) async throws -> [LoggedEvent]

    /// Events with these numbers (numbers a reader saw skipped, which a
    /// transaction still running may commit later).
    func events(numbered: [Int64]) async throws -> [LoggedEvent]

    func lastEventNumber() async throws -> Int64

    func alerts(gatewayID: String?) async throws -> [Alert]

    func status() async throws -> [GatewayStatus]

    // MARK: The gateway registry

    /// Gateways registered in the database (not those of the TOML file).
    func registeredGateways() async throws -> [RegisteredGateway]

    /// Applies one change to the registry and wakes every replica.
    func changeRegistry(_ change: RegistryChange, at now: WallTime) async throws

    /// A number that changes whenever the registry does (the truth a
    /// replica polls; notifications only wake it sooner).
    func registryVersion() async throws -> Int64

    /// Calls `changed` whenever another process may have changed the
    /// registry, until cancelled. Returns at once where the engine has no
    /// notifications (SQLite: polling the version is enough).
    func watchRegistry(_ changed: @escaping @Sendable () -> Void) async
}

/// The result of storing one alert.
/// One alert of a batch, with the exact bytes it arrived as.
public struct AlertToStore: Sendable {
    public var alert: Alert
    public var body: [UInt8]
    public init(alert: Alert, body: [UInt8]) {
        self.alert = alert
        self.body = body
    }
}

public enum StoreOutcome: Sendable, Equatable {
    case created
    case duplicate
    /// New, but its sequence number was used before under another id.
    case sequenceReused(earlierID: String)
}

/// One line of the event log.
public struct LoggedEvent: Sendable, Equatable {
    public var number: Int64
    public var at: WallTime
    public var gatewayID: String
    public var type: String
    public var text: String
}

/// A key a gateway announced for its next rotation step.
public struct AnnouncedKey: Sendable, Equatable {
    public var gatewayID: String
    public var publicKey: String
    public var announcedBy: String
}

/// One gateway's row in `status`.
public struct GatewayStatus: Sendable, Equatable {
    public var id: String
    public var lastHeartbeat: WallTime?
    public var heartbeatIntervalSeconds: Int?
    public var lastSequence: Int64?
    public var alerts: Int
    public var silent: Bool
    /// Sequence ranges missing between the lowest and highest received.
    public var gaps: [ClosedRange<Int64>]
    public var queuedAtGateway: Int?
}

/// A gateway registered in the receiver's database.
public struct RegisteredGateway: Sendable, Equatable {
    public var id: String
    public var site: String
    public var enabled: Bool
    /// Base64 Ed25519 public keys, by keyid.
    public var keys: [String: String]
}

/// One change to the gateway registry.
public enum RegistryChange: Sendable, Equatable {
    case add(id: String, site: String, publicKeys: [String])
    case addKey(id: String, publicKey: String)
    case removeKey(id: String, keyID: String)
    case setEnabled(id: String, Bool)
    case remove(id: String)
}

/// Why a registry change was refused, in words that say what to do.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case exists(String)
    case unknown(String)
    case keyInUse(keyID: String, gatewayID: String)
    case unknownKey(keyID: String, gatewayID: String)
    case lastKey(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .exists(let id): return "gateway \"\(id)\" is already registered; use add-key to give it another key"
        case .unknown(let id): return "no gateway \"\(id)\" is registered (see `panic-receiver gateways list`)"
        case .keyInUse(let k, let g): return "key \(k) is already the key of gateway \"\(g)\"; each key belongs to one gateway"
        case .unknownKey(let k, let g): return "gateway \"\(g)\" has no key \(k)"
        case .lastKey(let id): return "that is the last key of gateway \"\(id)\"; add its new key first, or disable the gateway"
        case .invalid(let why): return why
        }
    }
}

/// How long a store operation may take before the request is answered 503.
public enum StoreDeadline {
    public static let request: Duration = .seconds(4)
}

/// The schema this build expects differs from the database's.
public struct SchemaMismatch: Error, CustomStringConvertible {
    public var engine: String
    public var found: Int
    public var expected: Int
    public var description: String {
        found > expected
            ? "the \(engine) database is at schema version \(found), newer than this receiver knows (\(expected)); run the newer panic-receiver or restore a backup"
            : "the \(engine) database is at schema version \(found), this receiver needs \(expected); run `panic-receiver migrate --config FILE` first"
    }
}

extension ReceiverStore {
    /// Every alert, by gateway and sequence.
    public func alerts() async throws -> [Alert] { try await alerts(gatewayID: nil) }

    /// The first page of events after `number`.
    public func events(after number: Int64) async throws -> [LoggedEvent] { try await events(after: number, limit: 500) }

    /// `markSilent` counting from the last heartbeats only.
    public func markSilent(now: WallTime, afterIntervals n: Int) async throws -> [String] {
        try await markSilent(now: now, afterIntervals: n, notBefore: WallTime(nanosecondsSinceEpoch: 0))
    }
}

/// `op` within `limit`, or `StoreUnavailable`: a database that does not
/// answer must turn into a 503 the gateway retries, not a hung request. The
/// caller gets its answer at the deadline even if `op` ignores cancellation
/// (a task group would wait for it).
func withDeadline<T: Sendable>(_ what: String, _ limit: Duration, _ op: @escaping @Sendable () async throws -> T) async throws -> T {
    let box = Locked<CheckedContinuation<T, any Error>?>(nil)
    return try await withCheckedThrowingContinuation { continuation in
        box.value = continuation
        let work = Locked<Task<Void, Never>?>(nil)
        // The deadline is cancelled when the work answers: no sleeping
        // task per request is left behind under load.
        let deadline = Task {
            try? await Task.sleep(for: limit)
            guard !Task.isCancelled, let c = box.mutate({ $0.take() }) else { return }
            work.value?.cancel()
            c.resume(throwing: StoreUnavailable(what: what, after: limit))
        }
        work.value = Task {
            do {
                let value = try await op()
                box.mutate { $0.take() }?.resume(returning: value)
            } catch {
                box.mutate { $0.take() }?.resume(throwing: error)
            }
            deadline.cancel()
        }
    }
}
