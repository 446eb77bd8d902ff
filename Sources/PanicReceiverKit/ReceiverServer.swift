import Foundation
import Hummingbird
import HummingbirdTLS
import HummingbirdCore
import HTTPTypes
import Logging
import NIOCore
import NIOSSL
import PanicConfig
import PanicCore
import PanicSigning
import ServiceLifecycle

/// The reference receiver: HTTPS (or HTTP on loopback) in front of `Intake`,
/// plus the supervision timer.
public struct ReceiverServer: Sendable {
    public let config: ReceiverConfig
    public let store: ReceiverStore
    public let intake: Intake
    private let logger: Logger

    /// Largest body accepted; an alert is well under 2 KiB.
    public static let maximumBody = 64 * 1024

    public init(config: ReceiverConfig, logger: Logger, observer: @escaping @Sendable (ReceiverEvent) -> Void = { _ in }) throws {
        self.config = config
        self.logger = logger
        self.store = try ReceiverStore(path: config.database)
        var trusted: [TrustedKey] = []
        for g in config.gateways {
            for k in g.publicKeys { trusted.append(TrustedKey(gatewayID: g.id, key: try PublicKey(base64: k))) }
        }
        let verifier = SignatureVerifier(trusted: trusted, maximumAge: Int64(config.timeWindowSeconds))
        self.intake = Intake(verifier: verifier, store: store, logger: logger, observer: observer)
    }

    /// The HTTP application and the supervision service, ready to run in a
    /// ServiceGroup. `onListening` gets the bound port (useful with port 0).
    public func services(onListening: @escaping @Sendable (Int) -> Void = { _ in }) throws -> [any Service] {
        let router = Router()
        let intake = self.intake
        let scheme = config.tlsCertificate == nil ? "http" : "https"
        router.post("/v1/alerts") { request, _ -> Response in
            try await Self.handle(request, scheme: scheme) { intake.alert($0, now: Self.now()) }
        }
        router.post("/v1/heartbeats") { request, _ -> Response in
            try await Self.handle(request, scheme: scheme) { intake.heartbeat($0, now: Self.now()) }
        }
        router.get("/v1/health") { _, _ in "ok\n" }
        let server: HTTPServerBuilder
        if let cert = config.tlsCertificate, let key = config.tlsKey {
            var tls = try TLSConfiguration.makeServerConfiguration(
                certificateChain: NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(NIOSSLPrivateKey(file: key, format: .pem)))
            if let ca = config.clientCA {
                tls.certificateVerification = .fullVerification
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        let app = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(config.listenHost, port: config.listenPort), serverName: "panic-receiver"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        return [app, SupervisionService(store: store, silentAfter: config.silentAfterIntervals, logger: logger)]
    }

    static func now() -> WallTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallTime(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    static func handle(_ request: Request, scheme: String, _ body: (SignedMessage) -> IntakeResponse) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBody)
        } catch {
            return respond(.json(413, ["error": "body larger than \(maximumBody) bytes"]))
        }
        let headers = request.headers
        let authority = request.head.authority ?? ""
        let target = "\(scheme)://\(authority)\(request.head.path ?? "/")"
        let message = SignedMessage(method: request.method.rawValue, targetURI: target, body: Array(buffer: buffer)) { name in
            guard let field = HTTPField.Name(name) else { return nil }
            let values = headers[values: field]
            return values.isEmpty ? nil : values.joined(separator: ", ")
        }
        return respond(body(message))
    }

    static func respond(_ r: IntakeResponse) -> Response {
        Response(
            status: .init(code: r.status),
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: r.body + "\n")))
    }
}

/// Marks gateways silent when their heartbeats stop; checks every second.
struct SupervisionService: Service {
    let store: ReceiverStore
    let silentAfter: Int
    let logger: Logger

    func run() async throws {
        // Heartbeats that fell due while the receiver itself was down are not
        // the gateway's silence: count from the later of the two.
        let started = ReceiverServer.now()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                for id in try store.markSilent(now: ReceiverServer.now(), afterIntervals: silentAfter, notBefore: started) {
                    logger.error("gateway silent: heartbeats stopped", metadata: ["gateway.id": "\(id)"])
                }
            } catch {
                logger.error("supervision check failed", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdownOrSleep(seconds: 1)
        }
    }

    private func gracefulShutdownOrSleep(seconds: Int) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
    }
}
