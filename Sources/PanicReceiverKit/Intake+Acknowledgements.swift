import Foundation
import PanicCore
import PanicSigning

extension Intake {
    /// `POST /v1/acknowledgements`: a gateway asks what the control room has
    /// done with its inputs' alarms, so the lamp at the button can show it.
    /// Checked like every signed request; the answer is held until it
    /// differs from what the gateway knows, or `wait_s` pass, or the
    /// receiver drains (`stop`). 404 where the receiver keeps no incidents.
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
        guard let console = store as? any ConsoleStore else {
            return .json(404, ["error": "this receiver keeps no incidents (no console on this store)"])
        }
        if let wait = rateLimiter.admit(poll.gatewayID, now: now.nanosecondsSinceEpoch) { return tooMany(poll.gatewayID, wait) }
        let deadline = ContinuousClock.now + .seconds(poll.waitSeconds)
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

    static func encode(_ answer: AcknowledgementAnswer) -> String {
        (try? String(decoding: WireFormat.encode(answer), as: UTF8.self)) ?? "{}"
    }
}
