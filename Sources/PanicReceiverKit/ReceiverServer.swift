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
    public let store: any ReceiverStore
    public let intake: Intake
    /// The keys trusted now: the file's and the registry's.
    public let directory: KeyDirectory
    /// Refuses new requests once a graceful shutdown began.
    public let drain = DrainGate()
    /// Admits connections and closes those that hold a slot without using it.
    public let connections: ConnectionGuard
    private let logger: Logger

    public init(config: ReceiverConfig, logger: Logger, observer: @escaping @Sendable (ReceiverEvent) -> Void = { _ in }) throws {
        self.config = config
        self.logger = logger
        self.store = try Self.openStore(config, logger: logger)
        var trusted: [TrustedKey] = []
        for g in config.gateways {
            for k in g.publicKeys { trusted.append(TrustedKey(gatewayID: g.id, key: try PublicKey(base64: k))) }
        }
        let verifier = SignatureVerifier(trusted: trusted, maximumAge: Int64(config.timeWindowSeconds))
        self.directory = KeyDirectory(configured: trusted)
        let authorities = ReceiverAuthorities(configured: config.authorities, scheme: Self.scheme(config))
        self.intake = Intake(verifier: verifier, directory: directory, store: store, authorities: authorities,
                             rateLimiter: GatewayRateLimiter(rate: config.limits.ratePerGateway, burst: config.limits.burstPerGateway),
                             logger: logger, observer: observer)
        let l = config.limits
        self.connections = ConnectionGuard(limits: ConnectionLimits(
            maxConnections: l.maxConnections, maxPendingConnections: l.maxPendingConnections,
            headerTimeout: .milliseconds(Int64(l.headerTimeoutMilliseconds)), bodyTimeout: .milliseconds(Int64(l.bodyTimeoutMilliseconds)),
            idleTimeout: .seconds(Int64(l.idleTimeoutSeconds))), logger: logger)
        Self.raiseFileLimit(logger: logger)
    }

    /// The store the configuration names: PostgreSQL when `[postgresql]` is
    /// given (its pool runs as a service of the group), else the SQLite file.
    public static func openStore(_ config: ReceiverConfig, logger: Logger) throws -> any ReceiverStore {
        if let pg = config.postgres { return try PostgresReceiverStore(pg, logger: logger) }
        return try SQLiteReceiverStore(path: config.database)
    }

    /// `https` with a certificate, else `http` (loopback only).
    static func scheme(_ config: ReceiverConfig) -> String { config.tlsCertificate == nil ? "http" : "https" }

    /// Raises this process's open-file soft limit to its hard limit, so the
    /// connection cap, not the default 1,024 descriptors, is what bounds clients.
    static func raiseFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            logger.warning("cannot raise the open-file limit", metadata: ["error": "\(String(cString: strerror(errno)))"])
        }
    }

    /// The HTTP application and the supervision service, ready to run in a
    /// ServiceGroup. `onListening` gets the bound port (useful with port 0).
    /// `routes` adds routes of other modules (the operator console).
    public func services(onListening: @escaping @Sendable (Int) -> Void = { _ in },
                         routes: (Router<BasicRequestContext>) -> Void = { _ in }) throws -> [any Service] {
        let router = Router()
        router.add(middleware: DrainMiddleware(gate: drain))
        let intake = self.intake
        let store = self.store
        let drain = self.drain
        let directory = self.directory
        let scheme = Self.scheme(config)
        let maxBody = config.limits.maxBodyBytes
        router.post("/v1/alerts") { request, _ -> Response in
            try await Self.handle(request, scheme: scheme, maxBody: maxBody) { await intake.alert($0, now: Self.now()) }
        }
        router.post("/v1/alerts/batch") { request, _ -> Response in
            try await Self.handle(request, scheme: scheme, maxBody: maxBody) { await intake.alertBatch($0, now: Self.now()) }
        }
        router.post("/v1/heartbeats") { request, _ -> Response in
            try await Self.handle(request, scheme: scheme, maxBody: maxBody) { await intake.heartbeat($0, now: Self.now()) }
        }
        router.post("/v1/acknowledgements") { request, _ -> Response in
            try await Self.handle(request, scheme: scheme, maxBody: maxBody) { await intake.acknowledgements($0, now: Self.now(), stop: { drain.isDraining }) }
        }
        router.get("/v1/health") { _, _ in "ok\n" }
        // Liveness: the process answers. Readiness: not draining, the
        // database answers within 2 s and its schema is this build's.
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            if drain.isDraining { return Self.respond(.json(503, ["ready": "false", "reason": "shutting down"], retryAfter: 1)) }
            if !directory.isLoaded { return Self.respond(.json(503, ["ready": "false", "reason": "gateway registry not loaded yet"], retryAfter: 1)) }
            do {
                try await withDeadline("readiness check", .seconds(2)) { try await store.checkReady() }
                return Self.respond(.json(200, ["ready": "true", "engine": store.engine]))
            } catch {
                return Self.respond(.json(503, ["ready": "false", "reason": "\(error)"], retryAfter: 1))
            }
        }
        routes(router)
        let connections = self.connections
        let http = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [connections.handler()],
            httpDecoderConfiguration: .init(maxHeaderFieldSize: 8 * 1024, maxHeaderListSize: 32 * 1024, maxHeaderFieldCount: 64)))
        let server: HTTPServerBuilder
        if let cert = config.tlsCertificate, let key = config.tlsKey {
            var tls = try TLSConfiguration.makeServerConfiguration(
                certificateChain: NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(NIOSSLPrivateKey(file: key, format: .pem)))
            if let ca = config.clientCA {
                tls.certificateVerification = .fullVerification
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            server = try .tls(http, tlsConfiguration: tls)
        } else {
            server = http
        }
        let app = Application(
            router: router, server: server,
            // A deep accept queue: under a flood of reconnecting clients the
            // kernel must not drop a gateway's SYN before the guard sees it.
            configuration: .init(address: .hostname(config.listenHost, port: config.listenPort), serverName: "panic-receiver", backlog: 4_096),
            onServerRunning: { [intake, config] channel in
                let port = channel.localAddress?.port ?? 0
                intake.authorities.bound(host: config.listenHost, port: port)
                onListening(port)
            },
            logger: logger)
        var services: [any Service] = []
        // Shut down last (services stop in reverse order): the pool serves
        // the requests that finish while the receiver drains.
        if let pg = store as? PostgresReceiverStore { services.append(pg.client) }
        services.append(app)
        services.append(SupervisionService(store: store, silentAfter: config.silentAfterIntervals,
                                           nonceWindow: Int64(config.timeWindowSeconds) + 60, logger: logger))
        services.append(RegistryWatcher(store: store, directory: directory, pollInterval: store is PostgresReceiverStore ? .seconds(5) : .seconds(1), logger: logger))
        // First to hear of the shutdown.
        services.append(DrainService(gate: drain, drain: .seconds(Int64(config.limits.drainSeconds)), logger: logger))
        return services
    }

    static func now() -> WallTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallTime(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    static func handle(_ request: Request, scheme: String, maxBody: Int, _ body: (SignedMessage) async -> IntakeResponse) async throws -> Response {
        let tooLarge = IntakeResponse.json(413, ["error": "body larger than \(maxBody) bytes"])
        // Refused on its announced length, before a byte of it is read; the
        // connection is closed after the answer (ConnectionDeadlineHandler).
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBody { return respond(tooLarge) }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBody)
        } catch {
            return respond(tooLarge)
        }
        let headers = request.headers
        let authority = request.head.authority ?? ""
        let target = "\(scheme)://\(authority)\(request.head.path ?? "/")"
        let message = SignedMessage(method: request.method.rawValue, targetURI: target, body: Array(buffer: buffer)) { name in
            guard let field = HTTPField.Name(name) else { return nil }
            let values = headers[values: field]
            return values.isEmpty ? nil : values.joined(separator: ", ")
        }
        return respond(await body(message))
    }

    static func respond(_ r: IntakeResponse) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let s = r.retryAfterSeconds { headers[.retryAfter] = String(s) }
        return Response(status: .init(code: r.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: r.body + "\n")))
    }
}

/// Marks gateways silent when their heartbeats stop; checks every second.
struct SupervisionService: Service {
    let store: any ReceiverStore
    let silentAfter: Int
    /// Heartbeat nonces older than this (seconds) are forgotten.
    let nonceWindow: Int64
    let logger: Logger

    func run() async throws {
        // Heartbeats that fell due while the receiver itself was down are not
        // the gateway's silence: count from the later of the two.
        let started = ReceiverServer.now()
        var turns = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Bodies of closed connections (a flood of slow clients, say) go
            // back to the system, not only to malloc: every 10 s.
            turns += 1
            if turns % 10 == 0 { Self.trimHeap() }
            do {
                let now = ReceiverServer.now()
                for id in try await store.markSilent(now: now, afterIntervals: silentAfter, notBefore: started) {
                    logger.error("gateway silent: heartbeats stopped", metadata: ["gateway.id": "\(id)"])
                }
                if turns % 60 == 0 { try await store.forgetNonces(before: now.secondsSinceEpoch.saturatingSubtract(nonceWindow)) }
            } catch {
                logger.error("supervision check failed", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdownOrSleep(seconds: 1)
        }
    }

    /// glibc's `malloc_trim(0)`, looked up at run time (it is not in the
    /// Glibc module); a no-op where there is none.
    static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int) -> Int32).self)
    }()

    static func trimHeap() { _ = mallocTrim?(0) }

    private func gracefulShutdownOrSleep(seconds: Int) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
    }
}
