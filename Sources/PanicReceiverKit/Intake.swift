import Foundation
import Logging
import PanicCore
import PanicSigning

/// What the receiver answers, before HTTP framing.
public struct IntakeResponse: Sendable, Equatable {
    public var status: Int
    public var body: String
    /// For 429 and 503: the `Retry-After` header, seconds.
    public var retryAfterSeconds: Int?

    static func json(_ status: Int, _ fields: [String: String], retryAfter: Int? = nil) -> IntakeResponse {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return .init(status: status, body: String(decoding: data, as: UTF8.self), retryAfterSeconds: retryAfter)
    }
}

/// Something the receiver accepted, for whoever watches (the demo, tests).
public enum ReceiverEvent: Sendable {
    case alert(Alert, receivedAt: WallTime, new: Bool)
    case heartbeat(Heartbeat, receivedAt: WallTime)
    case rejected(reason: String, status: Int)
}

/// Verify, decode, range-check, de-duplicate, store, answer: the receiver's
/// logic with no HTTP in it. 201 new (also when a sequence number returns
/// under a new id: logged, never refused), 200 duplicate, 400 malformed,
/// 401 bad signature or another receiver's authority, 429 over the gateway's
/// rate, 503 storage trouble.
public struct Intake: Sendable {
    /// Window and skew; its keys are replaced by the directory's on each request.
    public let verifier: SignatureVerifier
    /// The keys trusted now (the file's and the registry's).
    public let directory: KeyDirectory
    public let store: any ReceiverStore
    public let logger: Logger
    public let observer: @Sendable (ReceiverEvent) -> Void
    public let authorities: ReceiverAuthorities
    public let rateLimiter: GatewayRateLimiter
    /// Acknowledgement polls held open now, per gateway.
    public let heldPolls = HeldPolls()

    public init(verifier: SignatureVerifier, directory: KeyDirectory? = nil, store: any ReceiverStore, authorities: ReceiverAuthorities,
                rateLimiter: GatewayRateLimiter = GatewayRateLimiter(rate: 50, burst: 500),
                logger: Logger, observer: @escaping @Sendable (ReceiverEvent) -> Void) {
        self.verifier = verifier
        self.directory = directory ?? KeyDirectory(configured: Array(verifier.keys.values), registryLoaded: true)
        self.store = store
        self.authorities = authorities
        self.rateLimiter = rateLimiter
        self.logger = logger
        self.observer = observer
    }

    public func alert(_ message: SignedMessage, now: WallTime) async -> IntakeResponse {
        let verified: Verified
        switch await verify(message, now: now) {
        case .success(let v): verified = v
        case .failure(let r): return r
        }
        let alert: Alert
        do { alert = try WireFormat.decode(Alert.self, from: message.body) }
        catch { return reject(400, "body is not an alert: \(error)") }
        guard alert.gatewayID == verified.signature.gatewayID else {
            return reject(401, "key \(verified.signature.keyID) belongs to gateway \(verified.signature.gatewayID), not \(alert.gatewayID)")
        }
        if let problem = alert.wireProblem() { return reject(400, problem) }
        guard verified.signature.nonce == alert.id else { return reject(400, "signature nonce must be the alert id") }
        if let wait = rateLimiter.admit(alert.gatewayID, now: now.nanosecondsSinceEpoch) { return tooMany(alert.gatewayID, wait) }
        do {
            let outcome = try await store.store(alert, body: message.body, keyID: verified.signature.keyID, at: now)
            let (status, warning) = announce(outcome, alert, now: now)
            var fields = ["status": status == 201 ? "created" : "duplicate", "id": alert.id]
            if let warning { fields["warning"] = warning }
            return .json(status, fields)
        } catch {
            logger.error("cannot store alert", metadata: ["error": "\(error)"])
            return .json(503, ["error": "storage unavailable"], retryAfter: 5)
        }
    }

    public func heartbeat(_ message: SignedMessage, now: WallTime) async -> IntakeResponse {
        let verified: Verified
        switch await verify(message, now: now) {
        case .success(let v): verified = v
        case .failure(let r): return r
        }
        let beat: Heartbeat
        do { beat = try WireFormat.decode(Heartbeat.self, from: message.body) }
        catch { return reject(400, "body is not a heartbeat: \(error)") }
        guard beat.gatewayID == verified.signature.gatewayID else { return reject(401, "key belongs to gateway \(verified.signature.gatewayID), not \(beat.gatewayID)") }
        if let problem = beat.wireProblem() { return reject(400, problem) }
        // The nonce makes each heartbeat single-use: a captured one replayed
        // within the window must not hide the gateway's silence.
        guard verified.signature.nonce == beat.id else { return reject(400, "signature nonce must be the heartbeat id") }
        if let wait = rateLimiter.admit(beat.gatewayID, now: now.nanosecondsSinceEpoch) { return tooMany(beat.gatewayID, wait) }
        do {
            let forgetBefore = now.secondsSinceEpoch.saturatingSubtract(verifier.maximumAge.saturatingAdd(verifier.maximumSkewAhead))
            guard try await store.recordHeartbeat(beat, at: now, nonceCreated: verified.signature.created, forgetNoncesBefore: forgetBefore) != nil else {
                logger.warning("heartbeat replayed; not counted as a sign of life", metadata: ["gateway.id": "\(beat.gatewayID)", "heartbeat.id": "\(beat.id)"])
                return .json(200, ["status": "duplicate"])
            }
            if let announced = beat.nextPublicKey { await announce(announced, by: verified, gatewayID: beat.gatewayID, now: now) }
        } catch {
            logger.error("cannot store heartbeat", metadata: ["error": "\(error)"])
            return .json(503, ["error": "storage unavailable"], retryAfter: 5)
        }
        observer(.heartbeat(beat, receivedAt: now))
        return .json(200, ["status": "ok"])
    }

    /// A next key announced in a heartbeat. Only a key in the configuration
    /// may announce one (an announced key cannot announce another), one per
    /// gateway (a newer announcement replaces the older), and it is trusted
    /// only while its announcer stays configured for that gateway.
    private func announce(_ base64: String, by verified: Verified, gatewayID: String, now: WallTime) async {
        guard !verified.viaAnnouncement else {
            logger.warning("key announcement ignored: only a configured key may announce the next one", metadata: ["gateway.id": "\(gatewayID)"])
            return
        }
        guard let key = try? PublicKey(base64: base64) else { return }
        if let configured = directory.keys[key.keyID] {
            if configured.gatewayID != gatewayID {
                logger.warning("key announcement ignored: the key belongs to another gateway", metadata: ["gateway.id": "\(gatewayID)"])
            }
            return
        }
        do {
            try await store.announceKey(gatewayID: gatewayID, keyID: key.keyID, publicKey: base64, announcedBy: verified.signature.keyID, at: now)
        } catch {
            logger.error("cannot store an announced key", metadata: ["error": "\(error)"])
        }
    }

    struct Verified {
        var signature: VerifiedSignature
        /// Signed by a key its gateway announced, not by a configured one.
        var viaAnnouncement: Bool
    }

    func verify(_ message: SignedMessage, now: WallTime) async -> Result<Verified, IntakeResponse> {
        var verifier = self.verifier
        verifier.keys = directory.keys
        guard authorities.accepts(targetURI: message.targetURI) else {
            return .failure(reject(401, "request is signed for \(ReceiverAuthorities.authority(of: message.targetURI) ?? "?"), not for this receiver (\(authorities.all.joined(separator: ", ")))"))
        }
        do {
            return .success(Verified(signature: try verifier.verify(message, now: now), viaAnnouncement: false))
        } catch .unknownKey(let keyID) {
            // A key its gateway announced, under a configured key's signature,
            // before switching to it — trusted while that announcer is configured.
            if let announced = try? await store.announcedKey(keyID),
               let announcer = verifier.keys[announced.announcedBy], announcer.gatewayID == announced.gatewayID,
               let key = try? PublicKey(base64: announced.publicKey) {
                var rotated = verifier
                rotated.keys = [keyID: TrustedKey(gatewayID: announced.gatewayID, key: key)]
                do { return .success(Verified(signature: try rotated.verify(message, now: now), viaAnnouncement: true)) }
                catch { return .failure(reject(error.isAuthenticationFailure ? 401 : 400, error.description)) }
            }
            // Before the registry's first load a key may be unknown only
            // because it is not loaded yet: ask the gateway to come back.
            if !directory.isLoaded {
                return .failure(.json(503, ["error": "gateway registry not loaded yet"], retryAfter: 1))
            }
            return .failure(reject(401, SignatureError.unknownKey(keyID).description))
        } catch .outsideWindow(let created, let serverNow) {
            // Say what time it is here, so a gateway with a wrong clock can
            // correct its `created` and resend at once instead of failing for ever.
            let reason = SignatureError.outsideWindow(created: created, now: serverNow).description
            _ = reject(401, reason)
            return .failure(.json(401, ["error": reason, "server_time": String(serverNow)]))
        } catch {
            return .failure(reject(error.isAuthenticationFailure ? 401 : 400, error.description))
        }
    }

    /// Tells the observer (and the log, for a reused sequence number) what
    /// storing `alert` came to; its status (201 new, 200 duplicate) and
    /// any warning for the gateway.
    func announce(_ outcome: StoreOutcome, _ alert: Alert, now: WallTime) -> (status: Int, warning: String?) {
        switch outcome {
        case .created:
            observer(.alert(alert, receivedAt: now, new: true))
            return (201, nil)
        case .duplicate:
            observer(.alert(alert, receivedAt: now, new: false))
            return (200, nil)
        case .sequenceReused(let earlier):
            logger.warning("sequence number reused by a new alert; stored", metadata: [
                "gateway.id": "\(alert.gatewayID)", "alert.sequence": "\(alert.sequence)", "earlier.id": "\(earlier)",
            ])
            observer(.alert(alert, receivedAt: now, new: true))
            return (201, "sequence \(alert.sequence) was used before by \(earlier)")
        }
    }

    func tooMany(_ gatewayID: String, _ seconds: Int) -> IntakeResponse {
        logger.warning("gateway over its request rate; asked to retry later", metadata: ["gateway.id": "\(gatewayID)", "retry_after_s": "\(seconds)"])
        observer(.rejected(reason: "rate limit", status: 429))
        return .json(429, ["error": "too many requests from \(gatewayID); retry after \(seconds) s"], retryAfter: seconds)
    }

    func reject(_ status: Int, _ reason: String) -> IntakeResponse {
        // The reason may quote the request: no control characters reach the log.
        let safe = reason.escapingControlCharacters
        logger.warning("request refused", metadata: ["http.status": "\(status)", "reason": "\(safe)"])
        observer(.rejected(reason: safe, status: status))
        return .json(status, ["error": String(safe.prefix(500))])
    }
}

extension Result: @retroactive @unchecked Sendable {}
extension IntakeResponse: Error {}
