import Foundation
import Logging
import NIOCore
import PanicConfig
import PanicCore
import PanicSigning
import ServiceLifecycle

/// Asks the central receiver, in one held-open signed request after
/// another, what the control room has done with this gateway's alarms; each
/// answer goes to the acknowledgement board that drives the lamps. The
/// receiver answers as soon as something differs from what the gateway last
/// heard (an operator acknowledged or resolved), so a lamp follows within a
/// round trip, not a heartbeat interval.
public struct AcknowledgementPoller: Service {
    /// How long the receiver may hold a poll; the transport waits longer.
    public static let holdSeconds = 20

    let transport: HTTPSTransport
    let gatewayID: String
    let clock: any GatewayClock
    let ids = AlertIDGenerator()
    let board: Locked<AcknowledgementBoard>
    let changed: @Sendable () -> Void
    let logger: Logger

    public init(uplink: UplinkConfig, gatewayID: String, signer: SignerBox, clock: any GatewayClock,
                board: Locked<AcknowledgementBoard>, changed: @escaping @Sendable () -> Void, logger: Logger) throws {
        var held = uplink
        held.requestTimeoutMilliseconds = (Self.holdSeconds + 10) * 1_000
        transport = try HTTPSTransport(config: held, signer: signer)
        self.gatewayID = gatewayID
        self.clock = clock
        self.board = board
        self.changed = changed
        self.logger = logger
    }

    public func run() async throws {
        var failures = 0
        var offset: Int64 = 0
        var base = 0
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), jitter: 0.5)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let b = board.value
            let poll = AcknowledgementPoll(id: ids.next(at: clock.wallNow()), gatewayID: gatewayID, known: b.remote,
                                           knownReceivedThrough: b.receivedThrough, waitSeconds: b.hasHeard ? Self.holdSeconds : 0)
            let body: [UInt8]
            do { body = try WireFormat.encode(poll) } catch { return }
            let created = clock.wallNow().secondsSinceEpoch.saturatingAdd(offset)
            let target = base
            let (outcome, serverTime, answer) = await cancelWhenGracefulShutdown {
                await transport.send(path: "/v1/acknowledgements", body: body, nonce: poll.id, created: created, to: target)
            }
            var pause: Nanoseconds?
            switch outcome {
            case .accepted:
                if let a = AcknowledgementAnswer.parse(Array(buffer: answer)) {
                    let before = board.value
                    board.mutate { $0.heard(a) }
                    if board.value != before { changed() }
                    failures = 0
                } else {
                    logger.warning("the receiver's acknowledgement answer is not one; lamps keep their state")
                    failures += 1
                    pause = backoff.delay(attempt: failures, random: Double.random(in: 0..<1))
                }
            case .refused(401, _) where serverTime != nil:
                // Our clock is off: sign with the receiver's time, at once.
                offset = serverTime!.saturatingSubtract(clock.wallNow().secondsSinceEpoch)
            case .refused(404, _):
                logger.notice("the receiver keeps no acknowledgements (no console); lamps show only what this gateway sent")
                pause = .seconds(60)
            default:
                failures += 1
                if transport.baseURLs.count > 1 { base = (base + 1) % transport.baseURLs.count }
                pause = backoff.delay(attempt: failures, random: Double.random(in: 0..<1))
                logger.debug("acknowledgement poll failed", metadata: ["outcome": "\(outcome)"])
            }
            if let pause { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .nanoseconds(pause.value)) } }
        }
        await transport.shutdown()
    }
}
