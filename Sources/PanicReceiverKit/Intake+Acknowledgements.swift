import Foundation
import PanicCore
import PanicSigning

extension Intake {
    /// `POST /v1/acknowledgements`: a gateway asks what the control room has
    /// done with its inputs' alarms, so the lamp at the button can show it.
    /// Checked like every signed request; the answer is held until it
    /// differs from what the gateway knows, or `wait_s` pass, or the
    /// receiver drains (`stop`).
    public func acknowledgements(_ message: SignedMessage, now: WallTime, stop: @escaping @Sendable () -> Bool = { false }) async -> IntakeResponse {
        let verified: Verified
        switch await verify(message, now: now) {
        case .success(let v): verified = v
        case .failure(let r): return r
        }
        let poll: AcknowledgementPoll
        do { poll = try WireFormat.decode(AcknowledgementPoll.self, from: message.body) }
        catch { return reject(400, "body is not an acknowledgement poll: \(error)") }
        guard poll.gatewayID == verified.signature.gatewayID else {
            return reject(401, "key \(verified.signature.keyID) belongs to gateway \(verified.signature.gatewayID), not \(poll.gatewayID)")
        }
        if let problem = poll.wireProblem() { return reject(400, problem) }
        guard verified.signature.nonce == poll.id else { return reject(400, "signature nonce must be the poll id") }
        let console = store
        if let wait = rateLimiter.admit(poll.gatewayID, now: now.nanosecondsSinceEpoch) { return tooMany(poll.gatewayID, wait) }
        // A gateway needs one held poll; a few are allowed (a restart, a
        // retry over another connection), more are answered at once, so no
        // key can hold a crowd of the receiver's connections and tasks.
        let held = heldPolls.enter(poll.gatewayID)
        defer { heldPolls.leave(poll.gatewayID) }
        let deadline = ContinuousClock.now + .seconds(held ? poll.waitSeconds : 0)
        do {
            while true {
                let seen = console.incidentChanges.current
                let answer = try await console.acknowledgements(gatewayID: poll.gatewayID)
                let changed = answer.inputs != poll.known || answer.receivedThrough != poll.knownReceivedThrough
                let left = deadline - ContinuousClock.now
                if changed || left <= .zero || stop() || Task.isCancelled { return .init(status: 200, body: Self.encode(answer)) }
                // A second at most per wait: a draining receiver answers at once.
                await console.incidentChanges.wait(after: seen, timeout: min(left, .seconds(1)))
            }
        } catch {
            logger.error("cannot read acknowledgements", metadata: ["error": "\(error)"])
            return .json(503, ["error": "storage unavailable"], retryAfter: 2)
        }
    }

    /// Held acknowledgement polls at most, per gateway.
    public static let maximumHeldPolls = 4

    static func encode(_ answer: AcknowledgementAnswer) -> String {
        (try? String(decoding: WireFormat.encode(answer), as: UTF8.self)) ?? "{}"
    }
}

/// How many acknowledgement polls each gateway has held open now.
public final class HeldPolls: Sendable {
    private let counts = Locked<[String: Int]>([:])
    let limit: Int

    public init(limit: Int = Intake.maximumHeldPolls) { self.limit = limit }

    /// Counts one more poll of `gateway`; true when it may be held.
    func enter(_ gateway: String) -> Bool {
        counts.mutate { c in
            let n = c[gateway, default: 0] + 1
            c[gateway] = n
            return n <= limit
        }
    }

    func leave(_ gateway: String) {
        counts.mutate { c in
            let n = c[gateway, default: 1] - 1
            c[gateway] = n > 0 ? n : nil
        }
    }

    /// Polls of `gateway` counted now (for tests).
    public func count(_ gateway: String) -> Int { counts.value[gateway] ?? 0 }
}
