import Logging
import PanicCore
import NIOCore
import NIOHTTPTypes
import HTTPTypes

/// The receiver's limits on connections: how many, and how long one may hold
/// a slot without finishing a request. Every number has a default that keeps
/// a flood of idle, slow or half-open clients from silencing the gateways.
public struct ConnectionLimits: Sendable, Equatable {
    /// All connections at once; the unit's `LimitNOFILE` is set well above.
    public var maxConnections: Int
    /// Connections that have not yet completed a verified request. When full,
    /// the oldest of them is closed so that a new one (perhaps a gateway) gets in.
    public var maxPendingConnections: Int
    /// From accept (TLS handshake included), or from the previous response on a
    /// connection that never authenticated, to a complete request head.
    public var headerTimeout: TimeAmount
    /// From the request head to the end of its body.
    public var bodyTimeout: TimeAmount
    /// Keep-alive idle time of a connection that has completed a verified request.
    public var idleTimeout: TimeAmount

    public init(maxConnections: Int = 8_192, maxPendingConnections: Int = 4_096, headerTimeout: TimeAmount = .seconds(10),
                bodyTimeout: TimeAmount = .seconds(10), idleTimeout: TimeAmount = .seconds(120)) {
        self.maxConnections = maxConnections
        self.maxPendingConnections = maxPendingConnections
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }
}

/// Admits connections and tracks which have proven themselves (completed a
/// signed request): those keep their slot; the others are the first to go.
public final class ConnectionGuard: Sendable {
    public let limits: ConnectionLimits
    private let logger: Logger

    private struct State {
        var nextID: UInt64 = 0
        var open: [UInt64: any Channel] = [:]
        var pending: Set<UInt64> = []
        /// Pending ids in arrival order; entries no longer pending are skipped.
        var pendingOrder: [UInt64] = []
        var pendingHead = 0
        var evicted = 0
        var refused = 0

        mutating func oldestPending() -> UInt64? {
            while pendingHead < pendingOrder.count {
                let id = pendingOrder[pendingHead]
                pendingHead += 1
                if pending.contains(id) { compact(); return id }
            }
            compact()
            return nil
        }

        mutating func compact() {
            if pendingHead > 1_024 && pendingHead * 2 > pendingOrder.count {
                pendingOrder.removeFirst(pendingHead)
                pendingHead = 0
            }
        }
    }
    private let state = Locked(State())

    public init(limits: ConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    /// Counts, for status and tests.
    public struct Counts: Sendable, Equatable {
        public var open: Int
        public var pending: Int
        public var evicted: Int
        public var refused: Int
    }

    public var counts: Counts {
        state.mutate { Counts(open: $0.open.count, pending: $0.pending.count, evicted: $0.evicted, refused: $0.refused) }
    }

    /// A new connection: its id, or nil when it must be closed at once.
    func admit(_ channel: any Channel) -> UInt64? {
        var victim: (any Channel)?
        let id: UInt64? = state.mutate { s in
            if s.open.count >= limits.maxConnections || s.pending.count >= limits.maxPendingConnections {
                guard let old = s.oldestPending() else { s.refused += 1; return nil }
                s.pending.remove(old)
                victim = s.open.removeValue(forKey: old)
                s.evicted += 1
            }
            s.nextID += 1
            let id = s.nextID
            s.open[id] = channel
            s.pending.insert(id)
            s.pendingOrder.append(id)
            return id
        }
        if let victim {
            logger.debug("closing the oldest unauthenticated connection to admit a new one", metadata: ["peer": "\(victim.remoteAddress.map { "\($0)" } ?? "?")"])
            victim.close(promise: nil)
        }
        return id
    }

    /// The connection completed a verified request: it keeps its slot.
    func authenticated(_ id: UInt64) {
        state.mutate { _ = $0.pending.remove(id) }
    }

    func isAuthenticated(_ id: UInt64) -> Bool {
        state.mutate { $0.open[id] != nil && !$0.pending.contains(id) }
    }

    func closed(_ id: UInt64) {
        state.mutate { s in
            s.open.removeValue(forKey: id)
            s.pending.remove(id)
        }
    }

    /// The per-connection handler for Hummingbird's `additionalChannelHandlers`.
    public func handler() -> any RemovableChannelHandler { ConnectionDeadlineHandler(guard: self) }

    /// A response field by which a route says the request came from a
    /// signed-in operator: the connection keeps its slot like a gateway's.
    /// The guard removes it before the response leaves.
    public static let sessionMarker = HTTPField.Name("X-Panic-Authenticated")!
}

/// Closes a connection that takes too long to send a request head or body,
/// or idles past its allowance; marks it authenticated when it gets a 2xx
/// for a signed request; closes it after a 413 instead of reading the body.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connectionGuard: ConnectionGuard
    private var id: UInt64?
    private var timer: Scheduled<Void>?
    private var signedPath = false
    private var closeAfterResponse = false

    init(guard g: ConnectionGuard) { connectionGuard = g }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard id == nil else { return }
        guard let id = connectionGuard.admit(context.channel) else {
            context.close(promise: nil)
            return
        }
        self.id = id
        arm(context, connectionGuard.limits.headerTimeout)
    }

    private func arm(_ context: ChannelHandlerContext, _ after: TimeAmount) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: after) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            let path = request.path ?? ""
            signedPath = path.hasPrefix("/v1/") && path != "/v1/health"
            arm(context, connectionGuard.limits.bodyTimeout)
        case .body: break
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response):
            if let id, signedPath, (200..<300).contains(response.status.code) { connectionGuard.authenticated(id) }
            if response.status.code == 413 { closeAfterResponse = true }
            if response.headerFields[ConnectionGuard.sessionMarker] != nil {
                response.headerFields[ConnectionGuard.sessionMarker] = nil
                if let id { connectionGuard.authenticated(id) }
                context.write(wrapOutboundOut(.head(response)), promise: promise)
                return
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if closeAfterResponse {
                let channel = context.channel
                let done = context.eventLoop.makePromise(of: Void.self)
                done.futureResult.whenComplete { r in
                    promise?.completeWith(r)
                    channel.close(promise: nil)
                }
                context.write(data, promise: done)
                return
            }
            if let id { arm(context, connectionGuard.isAuthenticated(id) ? connectionGuard.limits.idleTimeout : connectionGuard.limits.headerTimeout) }
            context.write(data, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if let id { connectionGuard.closed(id) }
        id = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        if let id { connectionGuard.closed(id) }
        id = nil
    }
}
