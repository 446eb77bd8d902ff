import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicOutbox

// One frame's exchange with a receiver, what its reply means, and the
// bookkeeping of paths and failures that follows.
extension DC09Service {
    enum Outcome {
        case acknowledged
        /// The receiver answered but will not take it (DUH, NAK).
        case refused(String)
        case failed(DC09LinkError)
    }

    /// The sockets and the thread they are used on, for one run.
    struct Exchanger: Sendable {
        let io: DC09IOThread
        let links: [Path: DC09Link]
    }

    /// Sends the frame `build` makes for a timestamp until it is answered:
    /// a NAK with the receiver's time corrects the offset and sends again.
    func transmit(number: Int, on path: Path, _ x: Exchanger, build: (WallTime) -> DC09Frame) async -> Outcome {
        guard let link = x.links[path] else { return .failed(.cancelled) }
        let maxAttempts = 3
        for attempt in 1...maxAttempts {
            let offset = lock.withLock { offsets[path] ?? .init(0) }
            let bytes: [UInt8]
            do {
                bytes = try composer.encode(build(clock.wallNow() + offset))
            } catch {
                return .refused("cannot build the frame: \(error)")
            }
            lock.withLock { state.lastSequenceNumber = number }
            let account = config.account
            let key = config.key
            let timeout = config.ackTimeoutMilliseconds
            let result = await x.io.run {
                link.exchange(bytes, timeoutMilliseconds: timeout) { Self.judge($0, number: number, account: account, key: key) }
            }
            switch result {
            case .success(.ack):
                return .acknowledged
            case .success(.nak(let time?, _)) where attempt < maxAttempts:
                let offset = time - clock.wallNow()
                lock.withLock {
                    offsets[path] = offset
                    if path == .primary { state.primaryClockOffset = offset } else { state.backupClockOffset = offset }
                }
                logger.notice("receiver refused the timestamp (NAK); clock offset corrected, sending again", metadata: [
                    "dc09.receiver": "\(path.rawValue)", "dc09.sequence": "\(number)", "offset_ms": "\(offset.value / 1_000_000)",
                ])
            case .success(.nak(_, true)):
                return .refused("bare \"NAK\": the receiver does not know account \(config.account) (or expects a different key)")
            case .success(.nak(let time, _)):
                return .refused(time == nil ? "NAK without the receiver's time" : framesRefused)
            case .success(.duh):
                return .refused("DUH: the receiver cannot process this event (an unknown code?)")
            case .success(.bareAck):
                return .failed(.badReply(endpoint: link.endpoint.description, .bareAcknowledgement))
            case .failure(let e):
                return .failed(e)
            }
        }
        return .refused(framesRefused)
    }

    /// A NAK that persists after the clock was corrected from the receiver's
    /// own time is not a clock problem: the receiver cannot read the frames.
    var framesRefused: String {
        let key = config.key.map { "an AES-\($0.count * 8) key" } ?? "no key (plain frames)"
        return "NAK persists after correcting the clock from the receiver's time: the receiver refuses the frames, not the timestamp; "
            + "check the key (configured: \(key); its key_format hex/ascii), the account \(config.account) and the format \(config.format.rawValue) with the receiving centre"
    }

    /// What a reply means for the frame numbered `number`.
    static func judge(_ bytes: [UInt8], number: Int, account: String, key: [UInt8]?) -> DC09Verdict {
        let reply: DC09Reply
        do {
            reply = try DC09Reply.parse(bytes, key: key)
        } catch {
            return .reject(error)
        }
        switch reply {
        case .ack(let seq, let acct, let encrypted):
            if seq != number { return .ignore("ACK for sequence \(seq), expected \(number)") }
            if let acct, acct.uppercased() != account { return .ignore("ACK for account \(acct), expected \(account)") }
            if key != nil, !encrypted { return .reject(.plaintextAcknowledgement) }
            return .accept(reply)
        case .duh(let seq?) where seq != number:
            return .ignore("DUH for sequence \(seq), expected \(number)")
        case .bareAck:
            return .reject(.bareAcknowledgement)
        default:
            return .accept(reply)
        }
    }

    // MARK: Path bookkeeping

    var activePath: Path { lock.withLock { paths.active } }

    func answered(on path: Path, now: WallTime) {
        let recovered: Int = lock.withLock {
            let before = state.consecutiveFailures
            paths.answered(on: path, now: now)
            if path == paths.active { lastExchange = now }
            syncPathStatus()
            return before
        }
        if recovered > 0 {
            logger.notice("receiver reachable again", metadata: ["dc09.receiver": "\(path.rawValue)", "failures.before": "\(recovered)"])
        }
    }

    func failed(on path: Path, _ error: DC09LinkError, now: WallTime, what: String) {
        if error == .cancelled || Task.isCancelled { return }
        let random = Double.random(in: 0..<1)
        let (switched, failures, retryAt, onBackup) = lock.withLock {
            let switched = paths.failed(on: path, now: now, random: random)
            state.lastError = "\(path.rawValue) receiver: \(error)"
            state.lastErrorAt = now
            syncPathStatus()
            return (switched, path == .primary ? paths.primaryFailures : paths.failures, paths.retryAt, paths.active == .backup)
        }
        if switched {
            logger.warning("primary receiver failed; switching to the backup and reporting communications trouble over it", metadata: [
                "reason": "\(error)", "failures": "\(failures)", "dc09.backup": "\(config.backup.map { "\($0)" } ?? "")",
            ])
            onTrouble("DC-09 primary receiver \(config.primary) unreachable", false)
        } else if failures == 1 || failures % 10 == 0 {
            let retry = retryAt.map { "\(max(0, ($0 - now).value / 1_000_000))" } ?? "0"
            logger.warning(onBackup && path == .primary ? "primary receiver still unreachable" : "receiver unreachable; alerts stay queued on disk", metadata: [
                "dc09.receiver": "\(path.rawValue)", "while": "\(what)", "reason": "\(error)", "failures": "\(failures)", "retry.in_ms": "\(retry)",
            ])
        }
    }

    /// Copies the path state into the status; call under `lock`.
    func syncPathStatus() {
        state.activeReceiver = paths.active
        state.consecutiveFailures = paths.failures
        state.backoffUntil = paths.retryAt
        state.communicationsTrouble = paths.inCommunicationsTrouble
    }
}
