import Foundation
import Logging
import Metrics
import PanicConfig
import PanicCore
import PanicOutbox
import PanicSigning
import ServiceLifecycle

/// Delivers one destination's queue, in order (alarms first), and sends its
/// heartbeats. One instance per configured uplink; each keeps its own state.
///
/// - A 2xx removes the alert from this destination's queue.
/// - A 4xx is a refusal: the alert stays queued and is retried at the capped
///   interval; the destination is in trouble until it accepts again. Other
///   alerts are not held up behind it.
/// - Anything else (no connection, timeout, 5xx) backs the whole destination
///   off exponentially with jitter; new alarms cut the wait short.
public final class UplinkService: Service, @unchecked Sendable {
    public let config: UplinkConfig
    public let wakeup = Wakeup()
    private let outbox: Outbox
    private let transport: HTTPSTransport
    private let clock: any GatewayClock
    private let logger: Logger
    private let heartbeat: @Sendable () -> Heartbeat?
    private let onDelivered: @Sendable (PendingAlert, WallTime) -> Void
    private let lock = SpinLock()
    private var state: UplinkStatus

    public init(
        config: UplinkConfig, outbox: Outbox, signer: SignerBox, clock: any GatewayClock, logger: Logger,
        heartbeat: @escaping @Sendable () -> Heartbeat?,
        onDelivered: @escaping @Sendable (PendingAlert, WallTime) -> Void = { _, _ in }
    ) throws {
        self.config = config
        self.outbox = outbox
        self.transport = try HTTPSTransport(config: config, signer: signer)
        self.clock = clock
        var logger = logger
        logger[metadataKey: "uplink.name"] = "\(config.name)"
        self.logger = logger
        self.heartbeat = heartbeat
        self.onDelivered = onDelivered
        self.state = UplinkStatus(name: config.name, consecutiveFailures: 0, delivered: 0)
    }

    /// A copy of the current state.
    public var status: UplinkStatus { lock.withLock { state } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.deliveryLoop() }
                group.addTask { await self.heartbeatLoop() }
                await group.waitForAll()
            }
        }
        await transport.shutdown()
    }

    // MARK: Delivery

    private func deliveryLoop() async {
        while !Task.isCancelled {
            let now = clock.wallNow()
            let next: PendingAlert?
            do {
                next = try outbox.deliverable(destination: config.name, now: now, limit: 1).first
            } catch {
                logger.error("cannot read the outbox; retrying", metadata: ["error": "\(error)"])
                await wakeup.wait(timeout: .seconds(1))
                continue
            }
            guard let alert = next else {
                await wakeup.wait(timeout: idleWait(now: now))
                continue
            }
            let outcome = await transport.post(path: "/v1/alerts", body: alert.body, nonce: alert.id, now: clock.wallNow().secondsSinceEpoch)
            await handle(outcome, for: alert)
        }
    }

    private func idleWait(now: WallTime) -> Duration {
        guard let due = try? outbox.nextDue(destination: config.name) else { return .seconds(60) }
        let ns = max(1_000_000, min((due - now).value, 60_000_000_000))
        return .nanoseconds(ns)
    }

    private func handle(_ outcome: DeliveryOutcome, for alert: PendingAlert) async {
        let now = clock.wallNow()
        switch outcome {
        case .accepted(let status):
            do {
                try outbox.markDelivered(sequence: alert.sequence, destination: config.name, at: now)
            } catch {
                // The receiver has it; the next attempt is a harmless duplicate.
                logger.error("delivered but could not record it; it will be sent again", metadata: ["alert.id": "\(alert.id)", "error": "\(error)"])
            }
            let recovered: (failures: Int, refusal: String?) = lock.withLock {
                let r = (state.consecutiveFailures, state.refusal)
                state.lastSuccess = now
                state.consecutiveFailures = 0
                state.backoffUntil = nil
                state.refusal = nil
                state.delivered += 1
                return r
            }
            if recovered.failures > 0 || recovered.refusal != nil {
                logger.notice("destination reachable again", metadata: ["failures.before": "\(recovered.failures)"])
            }
            logger.debug("delivered", metadata: ["alert.id": "\(alert.id)", "alert.sequence": "\(alert.sequence)", "http.status": "\(status)"])
            onDelivered(alert, now)
        case .refused(let status, let reason):
            Counter(label: "panic_gateway_uplink_errors_total", dimensions: [("destination", config.name), ("cause", "refused")]).increment()
            let until = now + config.backoff.maximum
            try? outbox.postpone(sequence: alert.sequence, destination: config.name, until: until, error: reason)
            lock.withLock {
                state.refusal = reason
                state.lastError = reason
                state.lastErrorAt = now
            }
            logger.error("receiver refused an alert; kept in the queue, retried at the capped interval", metadata: [
                "alert.id": "\(alert.id)", "alert.sequence": "\(alert.sequence)", "http.status": "\(status)", "reason": "\(reason)",
            ])
        case .failed(let reason):
            // Shutting down cancels the request in flight; that is no outage.
            if Task.isCancelled { return }
            let cause = reason.hasPrefix("TLS") ? "tls" : reason.contains("timeout") ? "timeout" : reason.hasPrefix("HTTP") ? "server" : "unreachable"
            Counter(label: "panic_gateway_uplink_errors_total", dimensions: [("destination", config.name), ("cause", cause)]).increment()
            let failures: Int = lock.withLock {
                state.consecutiveFailures += 1
                state.lastError = reason
                state.lastErrorAt = now
                return state.consecutiveFailures
            }
            let delay = config.backoff.delay(attempt: failures, random: Double.random(in: 0..<1))
            lock.withLock { state.backoffUntil = now + delay }
            if failures == 1 || failures % 10 == 0 {
                logger.warning("destination unreachable; alerts stay queued on disk", metadata: [
                    "reason": "\(reason)", "failures": "\(failures)", "retry.in_ms": "\(delay.value / 1_000_000)",
                ])
            }
            await waitOutBackoff(until: now + delay)
        case .throttled(let seconds, let reason):
            // The receiver asked for a pause: honoured (not even an alarm cuts
            // it short — it would only be refused again), but never longer
            // than this destination's back-off cap.
            if Task.isCancelled { return }
            Counter(label: "panic_gateway_uplink_errors_total", dimensions: [("destination", config.name), ("cause", "throttled")]).increment()
            let pause = min(Nanoseconds.seconds(Int64(seconds)), config.backoff.maximum)
            lock.withLock {
                state.lastError = reason
                state.lastErrorAt = now
                state.backoffUntil = now + pause
            }
            logger.warning("receiver asked to slow down; alerts stay queued on disk", metadata: ["reason": "\(reason)", "retry.in_ms": "\(pause.value / 1_000_000)"])
            try? await Task.sleep(for: .nanoseconds(max(0, pause.value)))
        }
    }

    /// Sleeps through a back-off, waking early only for alarms.
    private func waitOutBackoff(until deadline: WallTime) async {
        while !Task.isCancelled {
            let remaining = deadline - clock.wallNow()
            if remaining.value <= 0 { return }
            if await wakeup.wait(timeout: .nanoseconds(remaining.value)) { return }
        }
    }

    // MARK: Heartbeats

    private func heartbeatLoop() async {
        let interval = Duration.seconds(config.heartbeatIntervalSeconds)
        while !Task.isCancelled {
            if let beat = heartbeat(), let body = try? WireFormat.encode(beat) {
                let outcome = await transport.post(path: "/v1/heartbeats", body: body, nonce: beat.id, now: clock.wallNow().secondsSinceEpoch)
                if case .accepted = outcome {
                    lock.withLock { state.lastHeartbeatAcknowledged = clock.wallNow() }
                } else {
                    logger.debug("heartbeat not acknowledged", metadata: ["outcome": "\(outcome)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
