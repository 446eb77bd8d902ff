import Foundation
import Logging
import PanicCore
import PanicSigning

/// What the receiver answers, before HTTP framing.
public struct IntakeResponse: Sendable, Equatable {
    public var status: Int
    public var body: String

    static func json(_ status: Int, _ fields: [String: String]) -> IntakeResponse {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return .init(status: status, body: String(decoding: data, as: UTF8.self))
    }
}

/// Something the receiver accepted, for whoever watches (the demo, tests).
public enum ReceiverEvent: Sendable {
    case alert(Alert, receivedAt: WallTime, new: Bool)
    case heartbeat(Heartbeat, receivedAt: WallTime)
    case rejected(reason: String, status: Int)
}

/// Verify, decode, de-duplicate, store, answer: the receiver's logic with no
/// HTTP in it. 201 new (also when a sequence number returns under a new id:
/// logged, never refused), 200 duplicate, 400 malformed, 401 bad signature.
public struct Intake: Sendable {
    public let verifier: SignatureVerifier
    public let store: ReceiverStore
    public let logger: Logger
    public let observer: @Sendable (ReceiverEvent) -> Void

    public init(verifier: SignatureVerifier, store: ReceiverStore, logger: Logger, observer: @escaping @Sendable (ReceiverEvent) -> Void) {
        self.verifier = verifier
        self.store = store
        self.logger = logger
        self.observer = observer
    }

    public func alert(_ message: SignedMessage, now: WallTime) -> IntakeResponse {
        let verified: VerifiedSignature
        switch verify(message, now: now) {
        case .success(let v): verified = v
        case .failure(let r): return r
        }
        let alert: Alert
        do { alert = try WireFormat.decode(Alert.self, from: message.body) }
        catch { return reject(400, "body is not an alert: \(error)") }
        guard alert.gatewayID == verified.gatewayID else {
            return reject(401, "key \(verified.keyID) belongs to gateway \(verified.gatewayID), not \(alert.gatewayID)")
        }
        guard AlertIDGenerator.isValid(alert.id), alert.sequence > 0 else { return reject(400, "alert id must be a UUIDv7 and sequence positive") }
        guard verified.nonce == alert.id else { return reject(400, "signature nonce must be the alert id") }
        do {
            switch try store.store(alert, body: message.body, keyID: verified.keyID, at: now) {
            case .created:
                observer(.alert(alert, receivedAt: now, new: true))
                return .json(201, ["status": "created", "id": alert.id])
            case .duplicate:
                observer(.alert(alert, receivedAt: now, new: false))
                return .json(200, ["status": "duplicate", "id": alert.id])
            case .sequenceReused(let earlier):
                logger.warning("sequence number reused by a new alert; stored", metadata: [
                    "gateway.id": "\(alert.gatewayID)", "alert.sequence": "\(alert.sequence)", "earlier.id": "\(earlier)",
                ])
                observer(.alert(alert, receivedAt: now, new: true))
                return .json(201, ["status": "created", "id": alert.id, "warning": "sequence \(alert.sequence) was used before by \(earlier)"])
            }
        } catch {
            logger.error("cannot store alert", metadata: ["error": "\(error)"])
            return .json(503, ["error": "storage unavailable"])
        }
    }

    public func heartbeat(_ message: SignedMessage, now: WallTime) -> IntakeResponse {
        let verified: VerifiedSignature
        switch verify(message, now: now) {
        case .success(let v): verified = v
        case .failure(let r): return r
        }
        let beat: Heartbeat
        do { beat = try WireFormat.decode(Heartbeat.self, from: message.body) }
        catch { return reject(400, "body is not a heartbeat: \(error)") }
        guard beat.gatewayID == verified.gatewayID else { return reject(401, "key belongs to gateway \(verified.gatewayID), not \(beat.gatewayID)") }
        do {
            try store.recordHeartbeat(beat, at: now)
            if let announced = beat.nextPublicKey, let key = try? PublicKey(base64: announced) {
                try store.announceKey(gatewayID: beat.gatewayID, keyID: key.keyID, publicKey: announced, at: now)
            }
        } catch {
            return .json(503, ["error": "storage unavailable"])
        }
        observer(.heartbeat(beat, receivedAt: now))
        return .json(200, ["status": "ok"])
    }

    private func verify(_ message: SignedMessage, now: WallTime) -> Result<VerifiedSignature, IntakeResponse> {
        do {
            return .success(try verifier.verify(message, now: now))
        } catch .unknownKey(let keyID) {
            // A key its gateway announced, under a trusted signature, before switching to it.
            if let announced = try? store.announcedKey(keyID), let key = try? PublicKey(base64: announced.publicKey) {
                var rotated = verifier
                rotated.keys = [keyID: TrustedKey(gatewayID: announced.gatewayID, key: key)]
                do { return .success(try rotated.verify(message, now: now)) }
                catch { return .failure(reject(error.isAuthenticationFailure ? 401 : 400, error.description)) }
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

    private func reject(_ status: Int, _ reason: String) -> IntakeResponse {
        logger.warning("request refused", metadata: ["http.status": "\(status)", "reason": "\(reason)"])
        observer(.rejected(reason: reason, status: status))
        return .json(status, ["error": reason])
    }
}

extension Result: @retroactive @unchecked Sendable {}
extension IntakeResponse: Error {}
