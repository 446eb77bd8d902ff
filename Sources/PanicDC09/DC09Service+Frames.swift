import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicOutbox

// The frames the service sends: outbox alerts, supervision, probes of the
// primary, and its own communications trouble and restore events.
extension DC09Service {
    func deliver(_ pending: PendingAlert, _ x: Exchanger) async {
        let alert: Alert
        do {
            alert = try WireFormat.decode(Alert.self, from: pending.body)
        } catch {
            refuse(pending, reason: DC09EventError.unreadable("\(error)").description)
            return
        }
        let data: String
        do {
            data = try codes.event(for: alert).data(format: config.format, account: config.account)
        } catch {
            refuse(pending, reason: "alert \(pending.sequence) cannot be sent: \(error)")
            return
        }
        let number = sequences.number(forAlert: pending.sequence)
        let path = activePath
        let composer = self.composer
        let outcome = await transmit(number: number, on: path, x) { stamp in
            composer.eventFrame(data: data, sequence: number, sentAt: stamp, occurredAt: alert.occurredAt)
        }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged:
            answered(on: path, now: now)
            let clearedRefusal: String? = lock.withLock {
                let r = state.refusal
                state.refusal = nil
                state.delivered += 1
                state.lastSuccess = now
                return r
            }
            if let r = clearedRefusal {
                logger.notice("receiver accepts alerts again", metadata: ["refusal.before": "\(r)"])
                onTrouble("DC-09 receiver refused an alert: \(r)", true)
            }
            do {
                try outbox.markDelivered(sequence: pending.sequence, destination: config.name, at: now)
            } catch {
                // The receiver has it; the next attempt is a harmless duplicate.
                logger.error("delivered but could not record it; it will be sent again", metadata: ["alert.id": "\(pending.id)", "error": "\(error)"])
            }
            sequences.release(alert: pending.sequence)
            logger.debug("delivered", metadata: [
                "alert.id": "\(pending.id)", "alert.sequence": "\(pending.sequence)", "dc09.sequence": "\(number)", "dc09.receiver": "\(path.rawValue)",
            ])
            onAcknowledged(.init(what: .alert(sequence: pending.sequence, id: pending.id), number: number, receiver: path, at: now))
            onDelivered(pending, now)
        case .refused(let reason):
            answered(on: path, now: now)
            refuse(pending, reason: reason)
        case .failed(let error):
            failed(on: path, error, now: now, what: "alert \(pending.sequence)")
        }
    }

    /// The receiver will not take this alert as it is: keep it, retry at the
    /// capped interval, and be in trouble until something is acknowledged.
    func refuse(_ pending: PendingAlert, reason: String) {
        let now = clock.wallNow()
        let until = now + config.backoff.maximum
        do {
            try outbox.postpone(sequence: pending.sequence, destination: config.name, until: until, error: reason)
        } catch {
            logger.error("cannot postpone a refused alert", metadata: ["alert.sequence": "\(pending.sequence)", "error": "\(error)"])
        }
        let isNew: Bool = lock.withLock {
            let isNew = state.refusal == nil
            state.refusal = reason
            state.lastError = reason
            state.lastErrorAt = now
            return isNew
        }
        logger.error("receiver refused an alert; kept in the queue, retried at the capped interval", metadata: [
            "alert.id": "\(pending.id)", "alert.sequence": "\(pending.sequence)", "reason": "\(reason)",
            "retry.at": "\(until)",
        ])
        if isNew { onTrouble("DC-09 receiver refused an alert: \(reason)", false) }
    }

    func supervise(_ x: Exchanger) async {
        let number = sequences.fresh()
        let path = activePath
        let composer = self.composer
        let outcome = await transmit(number: number, on: path, x) { stamp in composer.supervisionFrame(sequence: number, sentAt: stamp) }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged:
            answered(on: path, now: now)
            lock.withLock { state.lastSupervisionAcknowledged = now }
            logger.debug("supervision acknowledged", metadata: ["dc09.sequence": "\(number)", "dc09.receiver": "\(path.rawValue)"])
            onAcknowledged(.init(what: .supervision, number: number, receiver: path, at: now))
        case .refused(let reason):
            answered(on: path, now: now)
            logger.warning("receiver answered the supervision message but did not acknowledge it", metadata: ["reason": "\(reason)"])
        case .failed(let error):
            failed(on: path, error, now: now, what: "supervision")
        }
    }

    /// While on the backup: is the primary back?
    func probePrimary(_ x: Exchanger) async {
        let number = sequences.fresh()
        let composer = self.composer
        let outcome = await transmit(number: number, on: .primary, x) { stamp in composer.nullFrame(sequence: number, sentAt: stamp) }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged, .refused:
            answered(on: .primary, now: now)
            logger.notice("primary receiver answers again; frames go to it", metadata: ["dc09.primary": "\(config.primary)"])
            onTrouble("DC-09 primary receiver \(config.primary) unreachable", true)
            if case .acknowledged = outcome {
                onAcknowledged(.init(what: .supervision, number: number, receiver: .primary, at: now))
            }
        case .failed(let error):
            failed(on: .primary, error, now: now, what: "probe of the primary")
        }
    }

    /// Communications trouble over the backup, or its restore over the primary.
    func sendOwed(_ owed: DC09PathState.Generated, _ x: Exchanger) async {
        let number: Int = lock.withLock { generatedNumbers[owed.restored] } ?? {
            let n = sequences.fresh()
            lock.withLock { generatedNumbers[owed.restored] = n }
            return n
        }()
        let event = DC09Event.communicationsTrouble(restored: owed.restored)
        let data = (try? event.data(format: config.format, account: config.account)) ?? ""
        let composer = self.composer
        let outcome = await transmit(number: number, on: owed.path, x) { stamp in
            composer.eventFrame(data: data, sequence: number, sentAt: stamp, occurredAt: owed.occurredAt)
        }
        let now = clock.wallNow()
        switch outcome {
        case .acknowledged, .refused:
            lock.withLock {
                paths.generatedSettled(restored: owed.restored)
                generatedNumbers[owed.restored] = nil
            }
            answered(on: owed.path, now: now)
            if case .refused(let reason) = outcome {
                logger.error("receiver would not take the communications \(owed.restored ? "restore" : "trouble") event; not retried", metadata: ["reason": "\(reason)"])
            } else {
                logger.notice("communications \(owed.restored ? "restore (YK/3350)" : "trouble (YS/1350)") acknowledged", metadata: ["dc09.receiver": "\(owed.path.rawValue)"])
                onAcknowledged(.init(what: .communicationsTrouble(restored: owed.restored), number: number, receiver: owed.path, at: now))
            }
        case .failed(let error):
            failed(on: owed.path, error, now: now, what: "communications \(owed.restored ? "restore" : "trouble") event")
        }
    }
}
