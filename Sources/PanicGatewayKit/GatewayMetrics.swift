import Foundation
import Logging
import Metrics
import PanicCore
import PanicInputs
import PanicOutbox
import PanicPlatform
import Prometheus
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The gateway's metrics, recorded through swift-metrics (no-ops until a
/// backend is bootstrapped) and served as Prometheus text when configured.
enum GatewayMetrics {
    static func accepted(_ alerts: [Alert]) {
        for a in alerts {
            Counter(label: "panic_gateway_alerts_accepted_total", dimensions: [("kind", a.kind.rawValue)]).increment()
            if a.kind.isAlarm, let input = a.input {
                Counter(label: "panic_gateway_presses_total", dimensions: [("kind", a.kind.rawValue), ("input", input)]).increment()
            }
        }
    }

    static func delivered(_ pending: PendingAlert, destination: String, at: WallTime) {
        let seconds = Double((at - pending.acceptedAt).value) / 1e9
        Recorder(label: "panic_gateway_delivery_latency_seconds", dimensions: [("destination", destination)], aggregate: true).record(seconds)
    }

    static func trouble(input: String, active: Bool) {
        Gauge(label: "panic_gateway_input_trouble", dimensions: [("input", input)]).record(active ? 1 : 0)
    }
}

/// Serves `/metrics` on a loopback port (a plain HTTP/1.0 responder on its
/// own thread) and refreshes the gauges read from the outbox and the loop.
public final class MetricsService: Service, @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    private let host: String
    private let port: Int
    private let outbox: Outbox
    private let loop: InputLoop
    private let logger: Logger

    /// Bootstraps swift-metrics with a Prometheus registry; once per process.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultValueHistogramBuckets = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    public init(registry: PrometheusCollectorRegistry, host: String, port: Int, outbox: Outbox, loop: InputLoop, logger: Logger) {
        self.registry = registry
        self.host = host
        self.port = port
        self.outbox = outbox
        self.loop = loop
        self.logger = logger
    }

    public func run() async throws {
        let fd = try listen()
        let thread = Thread { [self] in nameCurrentThread("metrics"); serve(fd) }
        thread.name = "metrics"
        thread.start()
        logger.info("metrics served", metadata: ["address": "\(host):\(port)"])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                self.refresh()
                try? await Task.sleep(for: .seconds(5))
            }
        }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    func refresh() {
        for q in (try? outbox.summary()) ?? [] {
            Gauge(label: "panic_gateway_queue_depth", dimensions: [("destination", q.destination)]).record(q.pending)
            Gauge(label: "panic_gateway_queue_alarms", dimensions: [("destination", q.destination)]).record(q.pendingAlarms)
        }
        Gauge(label: "panic_gateway_loop_iterations").record(Int64(truncatingIfNeeded: loop.iterations))
        Gauge(label: "panic_gateway_evicted_telemetry").record((try? outbox.evictedTelemetry()) ?? 0)
    }

    private func listen() throws -> Int32 {
        var hints = addrinfo(ai_flags: AI_NUMERICHOST | AI_PASSIVE, ai_family: AF_UNSPEC, ai_socktype: Int32(SOCK_STREAM.rawValue),
                             ai_protocol: 0, ai_addrlen: 0, ai_addr: nil, ai_canonname: nil, ai_next: nil)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let ai = info else { throw SystemError(call: "getaddrinfo", subject: host, errno: EINVAL) }
        defer { freeaddrinfo(info) }
        let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(call: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0, Glibc.listen(fd, 8) == 0 else {
            let e = errno
            close(fd)
            throw SystemError(call: "bind", subject: "\(host):\(port)", errno: e)
        }
        return fd
    }

    private func serve(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { if errno == EINTR { continue }; return }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request = [UInt8](repeating: 0, count: 2048)
            let n = recv(client, &request, 2048, 0)
            let head = n > 0 ? String(decoding: request[0..<n], as: UTF8.self) : ""
            var body: [UInt8] = []
            let status: String
            if head.hasPrefix("GET /metrics ") || head.hasPrefix("GET /metrics?") {
                refresh()
                registry.emit(into: &body)
                status = "200 OK"
            } else {
                body = Array("only GET /metrics is served here\n".utf8)
                status = "404 Not Found"
            }
            let header = "HTTP/1.0 \(status)\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            let out = Array(header.utf8) + body
            _ = out.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(client)
        }
    }
}
