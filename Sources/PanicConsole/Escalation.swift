import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
import PanicConfig
import PanicCore
import PanicReceiverKit
import PanicSigning
import ServiceLifecycle

/// Posts an escalation's body to a webhook; throws unless the answer is 2xx.
public protocol WebhookSender: Sendable {
    func post(_ body: [UInt8], to webhook: ReceiverConfig.Console.Webhook, nonce: String, created: Int64) async throws
}

/// Why a webhook did not take an escalation.
public struct WebhookRefused: Error, CustomStringConvertible {
    public var status: Int
    public var description: String { "the webhook answered HTTP \(status)" }
}

/// Webhooks signed as the gateways sign their requests (RFC 9421, ed25519,
/// over method, target URI, content type and RFC 9530 digest), with the
/// receiver's own key; the webhook verifies them with its public key.
public final class SignedWebhookSender: WebhookSender {
    let signer: MessageSigner
    let clients: [String: HTTPClient]

    public init(key: SigningKey, webhooks: [ReceiverConfig.Console.Webhook]) throws {
        signer = MessageSigner(key: key)
        var clients: [String: HTTPClient] = [:]
        for w in webhooks {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            if let ca = w.caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
            var cfg = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(5), read: .seconds(10)))
            cfg.httpVersion = .http1Only
            clients[w.name] = HTTPClient(eventLoopGroupProvider: .singleton, configuration: cfg)
        }
        self.clients = clients
    }

    public func post(_ body: [UInt8], to webhook: ReceiverConfig.Console.Webhook, nonce: String, created: Int64) async throws {
        guard let client = clients[webhook.name] else { throw WebhookRefused(status: 0) }
        let h = try signer.sign(method: "POST", targetURI: webhook.url, contentType: "application/json", body: body, created: created, nonce: nonce)
        var request = HTTPClientRequest(url: webhook.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Content-Digest", value: h.contentDigest)
        request.headers.add(name: "Signature-Input", value: h.signatureInput)
        request.headers.add(name: "Signature", value: h.signature)
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(15))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(Int(response.status.code)) else { throw WebhookRefused(status: Int(response.status.code)) }
    }

    public func shutdown() async {
        for c in clients.values { try? await c.shutdown() }
    }
}

/// What a webhook receives: the incident as the console shows it.
public enum EscalationPayload {
    public static func body(_ i: Incident, console: ReceiverConfig.Console, afterSeconds: Int) -> [UInt8] {
        let view = IncidentView(i, console: console).json
        return Array("{\"type\":\"escalation\",\"reason\":\"not acknowledged within \(afterSeconds) s\",\"incident\":\(view)}".utf8)
    }
}

/// Escalates alarms nobody acknowledged in time and delivers the
/// escalations from their durable queue, retrying with back-off until each
/// webhook has answered 2xx. `tick` is one pass; tests call it on a manual clock.
public struct EscalationService: Service {
    /// Alarms (panic, duress, tamper) and a silent gateway are escalated;
    /// trouble and sequence anomalies wait for an operator.
    public static let maximumPriority = IncidentKind.silent.priority

    let store: any ConsoleStore
    let console: ReceiverConfig.Console
    let escalation: ReceiverConfig.Console.Escalation
    let sender: any WebhookSender
    let clock: any GatewayClock
    let logger: Logger

    public init(store: any ConsoleStore, console: ReceiverConfig.Console, escalation: ReceiverConfig.Console.Escalation,
                sender: any WebhookSender, clock: any GatewayClock, logger: Logger) {
        self.store = store
        self.console = console
        self.escalation = escalation
        self.sender = sender
        self.clock = clock
        self.logger = logger
    }

    /// What one pass did.
    public struct Pass: Sendable, Equatable {
        public var escalated = 0
        public var delivered = 0
        public var failed = 0
        public init(escalated: Int = 0, delivered: Int = 0, failed: Int = 0) {
            self.escalated = escalated
            self.delivered = delivered
            self.failed = failed
        }
    }

    /// One pass: escalate what fell due, then deliver what is due.
    public func tick() async throws -> Pass {
        let escalated = try await escalateDue()
        var pass = try await deliverDue()
        pass.escalated = escalated
        return pass
    }

    /// Marks the alarms nobody acknowledged in time; returns how many.
    public func escalateDue() async throws -> Int {
        let now = clock.wallNow()
        let cutoff = now + Nanoseconds(-Int64(escalation.afterSeconds).saturatingMultiply(1_000_000_000))
        let console = self.console, after = escalation.afterSeconds
        let escalated = try await store.escalate(receivedBefore: cutoff, maximumPriority: Self.maximumPriority,
                                                 webhooks: escalation.webhooks.map(\.name), at: now) {
            EscalationPayload.body($0, console: console, afterSeconds: after)
        }
        for i in escalated {
            logger.critical("alarm escalated: not acknowledged in time", metadata: [
                "incident": "\(i.id)", "gateway.id": "\(i.gatewayID)", "kind": "\(i.kind.rawValue)", "after_s": "\(after)"])
        }
        return escalated.count
    }

    /// Delivers due escalations: webhooks side by side, each in order, and a
    /// webhook that fails is not tried again before its back-off (the rest
    /// of its queue waits with it).
    public func deliverDue() async throws -> Pass {
        let now = clock.wallNow()
        let due = try await store.dueEscalations(at: now, limit: 200)
        var byHook: [String: [EscalationDelivery]] = [:]
        for d in due { byHook[d.webhook, default: []].append(d) }
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(Int64(escalation.retryMaxSeconds)), jitter: 0)
        return try await withThrowingTaskGroup(of: Pass.self) { group in
            for (name, list) in byHook {
                let hook = escalation.webhooks.first { $0.name == name }
                group.addTask { [store, sender, clock, logger] in
                    var pass = Pass()
                    for (n, d) in list.enumerated() {
                        guard let hook else {
                            // Removed from the configuration: kept, and tried if it returns.
                            try await store.escalationFailed(d.id, error: "webhook \(name) is no longer configured", retryAt: now + .seconds(3_600))
                            continue
                        }
                        do {
                            try await sender.post(d.body, to: hook, nonce: "escalation-\(d.id)", created: clock.wallNow().secondsSinceEpoch)
                            try await store.escalationDelivered(d.id, at: clock.wallNow())
                            pass.delivered += 1
                        } catch {
                            let retry = now + backoff.delay(attempt: d.attempts + 1, random: 0)
                            try await store.escalationFailed(d.id, error: "\(error)", retryAt: retry)
                            try await store.postponeEscalations(list[(n + 1)...].map(\.id), until: retry)
                            logger.error("escalation not delivered; retrying", metadata: [
                                "webhook": "\(name)", "incident": "\(d.incidentID)", "attempt": "\(d.attempts + 1)", "error": "\(error)"])
                            pass.failed += 1
                            break
                        }
                    }
                    return pass
                }
            }
            var total = Pass()
            for try await p in group {
                total.delivered += p.delivered
                total.failed += p.failed
            }
            return total
        }
    }

    /// Two loops: a slow or dead webhook must not delay the next escalation.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loop("escalation check") { _ = try await escalateDue() } }
            group.addTask { await loop("escalation delivery") { _ = try await deliverDue() } }
        }
    }

    private func loop(_ what: String, _ body: @escaping @Sendable () async throws -> Void) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { try await body() } catch { logger.error("\(what) failed", metadata: ["error": "\(error)"]) }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
        }
    }
}
