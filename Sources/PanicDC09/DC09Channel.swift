import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDelivery
import PanicOutbox

/// SIA DC-09 to an alarm receiving centre as a delivery channel: each
/// attempt is one frame and its reply, classified. The queue, back-off,
/// failover, clock correction and trouble are the `DeliveryService`'s.
///
/// - `ACK` (matching sequence and account; `*ACK` when encrypted) is the
///   only reply that delivers;
/// - `NAK` with the receiver's time is a refusal of the timestamp (the
///   service corrects that receiver's offset and sends again, twice at most);
/// - `DUH`, a bare `"NAK"` or an alert that does not fit the format is a
///   refusal;
/// - silence, refused or closed connections and unusable replies are failures.
///
/// Every transmission is stamped afresh (receiver clock as learnt from NAKs)
/// and carries the alert's time of occurrence in `[H…]`. A retransmission
/// reuses its sequence number (`DC09SequenceStore`). Supervision is `NULL`
/// (or a periodic test); the probe of the primary is a `NULL`; the notices
/// are communications trouble (YS / 1350) and restore (YK / 3350).
public final class DC09Channel: DeliveryChannel {
    public let config: DC09Config
    /// This destination's sequence numbers (`stateDirectory/dc09-NAME.seq`).
    public let sequences: DC09SequenceStore
    private let clock: any GatewayClock
    private let logger: Logger
    private let composer: DC09Composer
    private let codes: DC09CodeTable
    private let onAcknowledged: @Sendable (DC09Acknowledgement) -> Void
    private let interruption = DC09Interrupt()
    /// The socket thread and the links of the current run.
    private let run = Locked<Exchanger?>(nil)
    /// The numbers of notices sent but not settled (a retransmission reuses them).
    private let noticeNumbers = Locked<[Bool: Int]>([:])
    private let lastNumber: Locked<Int>

    /// The sockets and the thread they are used on, for one run.
    struct Exchanger: Sendable {
        let io: DC09IOThread
        let links: [DeliveryPath: DC09Link]
    }

    /// - Parameters:
    ///   - stateDirectory: where `dc09-NAME.seq` is kept (the outbox's directory).
    ///   - onAcknowledged: every frame the receiver acknowledged.
    /// - Throws: when the key is unusable.
    public init(config: DC09Config, clock: any GatewayClock, logger: Logger, stateDirectory: String,
                onAcknowledged: @escaping @Sendable (DC09Acknowledgement) -> Void = { _ in }) throws(DC09SetupError) {
        if let key = config.key {
            do { _ = try DC09Cipher(key: key) } catch { throw DC09SetupError(message: "DC-09 destination \"\(config.name)\": \(error)") }
        }
        self.config = config
        self.clock = clock
        var logger = logger
        logger[metadataKey: "uplink.name"] = "\(config.name)"
        self.logger = logger
        self.composer = DC09Composer(config: config)
        self.codes = DC09CodeTable(overrides: config.codes)
        self.sequences = DC09SequenceStore(path: stateDirectory + "/dc09-\(config.name).seq")
        self.onAcknowledged = onAcknowledged
        self.lastNumber = Locked(sequences.lastNumber)
    }

    public var destination: String { config.name }
    public var kind: String { "dc09" }
    public var target: String { "dc09://\(config.primary)\(config.backup.map { ", backup \($0)" } ?? "")" }
    public var lastFrameNumber: Int? { lastNumber.value }
    public var policy: DeliveryPolicy {
        DeliveryPolicy(
            backoff: config.backoff, hasBackup: config.backup != nil, failoverAfter: config.failoverAfter,
            supervisionInterval: config.supervisionIntervalSeconds > 0 ? .seconds(Int64(config.supervisionIntervalSeconds)) : nil,
            clockTolerance: .init(0), maxClockCorrections: 2)
    }

    public func describe(_ trouble: DestinationTrouble) -> String {
        switch trouble {
        case .refusing(let reason): "DC-09 receiver refused an alert: \(reason)"
        case .primaryUnreachable: "DC-09 primary receiver \(config.primary) unreachable"
        }
    }

    // MARK: Run

    public func open() async {
        var links: [DeliveryPath: DC09Link] = [.primary: DC09Link(endpoint: config.primary, transport: config.transport, interrupt: interruption)]
        if let b = config.backup { links[.backup] = DC09Link(endpoint: b, transport: config.transport, interrupt: interruption) }
        run.value = Exchanger(io: DC09IOThread(name: "dc09-\(config.name)"), links: links)
        if let problem = sequences.loadProblem { logger.warning("DC-09 sequence file problem", metadata: ["problem": "\(problem)"]) }
        logger.info("DC-09 destination running", metadata: [
            "dc09.primary": "\(config.primary)", "dc09.backup": "\(config.backup.map { "\($0)" } ?? "none")",
            "dc09.transport": "\(config.transport.rawValue)", "dc09.format": "\(config.format.rawValue)",
            "dc09.account": "\(config.account)", "dc09.encrypted": "\(config.key != nil)",
        ])
    }

    public func close() async {
        guard let x = run.mutate({ r -> Exchanger? in defer { r = nil }; return r }) else { return }
        await x.io.run { for l in x.links.values { l.closeSocket() } }
        x.io.stop()
    }

    public func interrupt() { interruption.fire() }

    // MARK: Frames

    public func deliver(_ pending: PendingAlert, on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        let alert: Alert
        do {
            alert = try WireFormat.decode(Alert.self, from: pending.body)
        } catch {
            return .unsendable(DC09EventError.unreadable("\(error)").description)
        }
        let data: String
        do {
            data = try codes.event(for: alert).data(format: config.format, account: config.account)
        } catch {
            return .unsendable("alert \(pending.sequence) cannot be sent: \(error)")
        }
        let number = sequences.number(forAlert: pending.sequence)
        let composer = self.composer
        return await transmit(number: number, on: path, clockOffset: clockOffset) { stamp in
            composer.eventFrame(data: data, sequence: number, sentAt: stamp, occurredAt: alert.occurredAt)
        }
    }

    public func delivered(_ alert: PendingAlert, on path: DeliveryPath, at: WallTime) {
        let number = sequences.number(forAlert: alert.sequence)
        sequences.release(alert: alert.sequence)
        onAcknowledged(.init(what: .alert(sequence: alert.sequence, id: alert.id), number: number, receiver: path, at: at))
    }

    public func supervise(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult {
        let number = sequences.fresh()
        let composer = self.composer
        let result = await transmit(number: number, on: path, clockOffset: clockOffset) { stamp in composer.supervisionFrame(sequence: number, sentAt: stamp) }
        if result == .delivered { onAcknowledged(.init(what: .supervision, number: number, receiver: path, at: clock.wallNow())) }
        return result
    }

    public func probe(clockOffset: Nanoseconds) async -> AttemptResult {
        let number = sequences.fresh()
        let composer = self.composer
        let result = await transmit(number: number, on: .primary, clockOffset: clockOffset) { stamp in composer.nullFrame(sequence: number, sentAt: stamp) }
        if result == .delivered { onAcknowledged(.init(what: .supervision, number: number, receiver: .primary, at: clock.wallNow())) }
        return result
    }

    public func sendNotice(_ notice: PathNotice, clockOffset: Nanoseconds) async -> AttemptResult {
        let number: Int = noticeNumbers.mutate { n in
            if let k = n[notice.restored] { return k }
            let k = sequences.fresh()
            n[notice.restored] = k
            return k
        }
        let event = DC09Event.communicationsTrouble(restored: notice.restored)
        let data = (try? event.data(format: config.format, account: config.account)) ?? ""
        let composer = self.composer
        let result = await transmit(number: number, on: notice.path, clockOffset: clockOffset) { stamp in
            composer.eventFrame(data: data, sequence: number, sentAt: stamp, occurredAt: notice.occurredAt)
        }
        switch result {
        case .delivered, .refused, .clockRefused, .unsendable:
            // Settled either way: a receiver that will not take it is not asked again.
            noticeNumbers.mutate { _ = $0.removeValue(forKey: notice.restored) }
            if result == .delivered {
                onAcknowledged(.init(what: .communicationsTrouble(restored: notice.restored), number: number, receiver: notice.path, at: clock.wallNow()))
            }
        default: break
        }
        return result
    }

    // MARK: One exchange

    /// Sends the frame `build` makes for a timestamp and classifies the reply.
    func transmit(number: Int, on path: DeliveryPath, clockOffset: Nanoseconds, build: (WallTime) -> DC09Frame) async -> AttemptResult {
        guard let x = run.value, let link = x.links[path] else { return .cancelled }
        let bytes: [UInt8]
        do {
            bytes = try composer.encode(build(clock.wallNow() + clockOffset))
        } catch {
            return .unsendable("cannot build the frame: \(error)")
        }
        lastNumber.value = number
        let account = config.account
        let key = config.key
        let timeout = config.ackTimeoutMilliseconds
        let result = await x.io.run {
            link.exchange(bytes, timeoutMilliseconds: timeout) { Self.judge($0, number: number, account: account, key: key) }
        }
        switch result {
        case .success(.ack):
            return .delivered
        case .success(.nak(_, true)):
            return .refused("bare \"NAK\": the receiver does not know account \(config.account) (or expects a different key)")
        case .success(.nak(let time?, _)):
            return .clockRefused(receiverTime: time, otherwise: framesRefused)
        case .success(.nak(nil, _)):
            return .refused("NAK without the receiver's time")
        case .success(.duh):
            return .refused("DUH: the receiver cannot process this event (an unknown code?)")
        case .success(.bareAck):
            return .failed("\(DC09LinkError.badReply(endpoint: link.endpoint.description, .bareAcknowledgement))", cause: "unreachable")
        case .failure(.cancelled):
            return .cancelled
        case .failure(let e):
            return .failed("\(e)", cause: "unreachable")
        }
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
}

extension DeliveryService {
    /// A DC-09 destination's delivery service: `DC09Channel` on `outbox`.
    public static func dc09(
        config: DC09Config, outbox: Outbox, clock: any GatewayClock, logger: Logger, stateDirectory: String,
        sleeper: any DeliverySleeper = RealSleeper(),
        onAcknowledged: @escaping @Sendable (DC09Acknowledgement) -> Void = { _ in },
        onDelivered: @escaping @Sendable (PendingAlert, WallTime) -> Void = { _, _ in },
        onTrouble: @escaping @Sendable (_ cause: String, _ cleared: Bool) -> Void = { _, _ in }
    ) throws -> DeliveryService {
        let channel = try DC09Channel(config: config, clock: clock, logger: logger, stateDirectory: stateDirectory, onAcknowledged: onAcknowledged)
        return try DeliveryService(channel: channel, outbox: outbox, clock: clock, logger: logger, sleeper: sleeper,
                                   onDelivered: onDelivered, onTrouble: onTrouble)
    }
}
