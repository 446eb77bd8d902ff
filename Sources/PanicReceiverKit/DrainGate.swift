import Hummingbird
import HTTPTypes
import Logging
import PanicCore
import ServiceLifecycle

/// Graceful shutdown behind a load balancer: after SIGTERM new requests are
/// answered 503 with `Retry-After` (and `Connection: close`), `/readyz`
/// fails, and requests already in flight run to their answer.
public final class DrainGate: Sendable {
    private struct State { var draining = false; var inFlight = 0 }
    private let state = Monitor(State())

    public init() {}

    public var isDraining: Bool { state.read { $0.draining } }
    public var inFlight: Int { state.read { $0.inFlight } }

    /// Admits a request unless draining.
    func enter() -> Bool {
        state.update { s in
            guard !s.draining else { return false }
            s.inFlight += 1
            return true
        }
    }

    func leave() { state.update { $0.inFlight -= 1 } }

    func startDraining() { state.update { $0.draining = true } }

    /// Waits until no request is in flight, at most `limit` (a shutdown
    /// path: a short poll is simpler than a second signal here).
    func waitIdle(limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, inFlight > 0, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Counts requests in flight and refuses new ones while draining.
struct DrainMiddleware<Context: RequestContext>: RouterMiddleware {
    let gate: DrainGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Liveness answers even while draining: the process is alive.
        if request.uri.path == "/healthz" { return try await next(request, context) }
        guard gate.enter() else {
            return Response(status: .serviceUnavailable, headers: [.retryAfter: "1", .connection: "close", .contentType: "application/json"],
                            body: .init(byteBuffer: .init(string: "{\"error\":\"receiver shutting down; retry on another replica\"}\n")))
        }
        defer { gate.leave() }
        return try await next(request, context)
    }
}

/// The first service to hear of a graceful shutdown (it is last in the
/// group): drains for `drain` (requests in flight finish, new ones get
/// 503), then lets the HTTP server and the database pool stop.
struct DrainService: Service {
    let gate: DrainGate
    let drain: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        gate.startDraining()
        logger.notice("draining: new requests are answered 503", metadata: ["in_flight": "\(gate.inFlight)", "drain_s": "\(drain.components.seconds)"])
        let started = ContinuousClock.now
        await gate.waitIdle(limit: .seconds(30))
        // Stay unready for the rest of the drain, so a load balancer's next
        // health check takes this replica out before it stops listening.
        let rest = drain - (ContinuousClock.now - started)
        if rest > .zero { try? await Task.sleep(for: rest) }
        logger.notice("drained", metadata: ["in_flight": "\(gate.inFlight)"])
    }
}
