import PanicConfig
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an exchange with a receiver got no usable reply. All of these count
/// as a failure of the path.
public enum DC09LinkError: Error, Equatable, Sendable, CustomStringConvertible {
    case resolve(host: String, reason: String)
    case connect(endpoint: String, errno: Int32)
    case connectTimeout(endpoint: String, milliseconds: Int)
    case send(endpoint: String, errno: Int32)
    case receive(endpoint: String, errno: Int32)
    /// Nothing usable within the ack timeout; `ignored` lists replies that
    /// did not match the frame (a stale sequence number, say).
    case noReply(endpoint: String, milliseconds: Int, receivedBytes: Int, ignored: [String])
    /// The receiver closed the connection, after `receivedBytes` of a reply.
    case closed(endpoint: String, receivedBytes: Int)
    /// A reply that cannot be used: garbage, bad CRC, oversized, …
    case badReply(endpoint: String, DC09ReplyError)
    /// The service is stopping.
    case cancelled
    case socket(call: String, errno: Int32)

    public var description: String {
        func e(_ n: Int32) -> String { "\(String(cString: strerror(n))) [errno \(n)]" }
        switch self {
        case .resolve(let h, let r): return "cannot resolve \(h): \(r)"
        case .connect(let ep, let n): return "connect to \(ep): \(e(n))"
        case .connectTimeout(let ep, let ms): return "connect to \(ep): no answer within \(ms) ms"
        case .send(let ep, let n): return "send to \(ep): \(e(n))"
        case .receive(let ep, let n): return "receive from \(ep): \(e(n))"
        case .noReply(let ep, let ms, let bytes, let ignored):
            var s = "no reply from \(ep) within \(ms) ms"
            if bytes > 0 { s += " (\(bytes) bytes received, no complete reply)" }
            if !ignored.isEmpty { s += "; ignored: " + ignored.prefix(3).joined(separator: "; ") }
            return s
        case .closed(let ep, let bytes):
            return bytes == 0 ? "\(ep) closed the connection without replying" : "\(ep) closed the connection in the middle of a reply (\(bytes) bytes)"
        case .badReply(let ep, let r): return "unusable reply from \(ep): \(r)"
        case .cancelled: return "cancelled: the service is stopping"
        case .socket(let call, let n): return "\(call): \(e(n))"
        }
    }
}

/// What to make of one complete reply.
enum DC09Verdict: Sendable {
    /// The reply to the frame sent.
    case accept(DC09Reply)
    /// Not for this frame (a late reply to an earlier one): keep waiting.
    case ignore(String)
    /// Unusable: the exchange failed.
    case reject(DC09ReplyError)
}

/// Lets a stopping service interrupt a blocking wait (a self-pipe that
/// every poll watches).
final class DC09Interrupt: @unchecked Sendable {
    let readFD: Int32
    private let writeFD: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        } else {
            fds = [-1, -1]
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    func fire() {
        var b: UInt8 = 1
        _ = write(writeFD, &b, 1)
    }

    deinit {
        close(readFD)
        close(writeFD)
    }
}

/// One receiver endpoint: a TCP connection kept open and reopened when it
/// fails, or a fresh connected UDP socket per frame. Blocking calls; use it
/// from one thread only (`DC09IOThread`). Every wait is bounded by the
/// timeout given and interrupted by `DC09Interrupt`.
final class DC09Link: @unchecked Sendable {
    let endpoint: DC09Config.Endpoint
    let transport: DC09Config.Transport
    private let interrupt: DC09Interrupt
    private var fd: Int32 = -1

    init(endpoint: DC09Config.Endpoint, transport: DC09Config.Transport, interrupt: DC09Interrupt) {
        self.endpoint = endpoint
        self.transport = transport
        self.interrupt = interrupt
    }

    deinit { closeSocket() }

    /// Sends `frame` and waits up to `timeoutMilliseconds` for the reply
    /// that `judge` accepts.
    func exchange(_ frame: [UInt8], timeoutMilliseconds ms: Int, judge: ([UInt8]) -> DC09Verdict) -> Result<DC09Reply, DC09LinkError> {
        switch transport {
        case .tcp: exchangeTCP(frame, ms, judge)
        case .udp: exchangeUDP(frame, ms, judge)
        }
    }

    func closeSocket() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    // MARK: TCP

    private func exchangeTCP(_ frame: [UInt8], _ ms: Int, _ judge: ([UInt8]) -> DC09Verdict) -> Result<DC09Reply, DC09LinkError> {
        var reused = fd >= 0 && connectionAlive()
        if !reused { closeSocket() }
        for attempt in 0..<2 {
            let deadline = Self.monotonicMilliseconds() + Int64(ms)
            if fd < 0 {
                switch open(type: SOCK_STREAM, deadline: deadline, timeout: ms) {
                case .success(let s): fd = s
                case .failure(let e): return .failure(e)
                }
            }
            if case .failure(let e) = sendAll(frame, deadline: deadline) {
                closeSocket()
                // A kept connection the receiver had dropped: once more on a fresh one.
                if reused, attempt == 0, e != .cancelled { reused = false; continue }
                return .failure(e)
            }
            let r = receive(deadline: deadline, timeout: ms, datagrams: false, judge: judge)
            switch r {
            case .failure(.closed(_, 0)), .failure(.receive(_, ECONNRESET)):
                closeSocket()
                if reused, attempt == 0 { reused = false; continue }
            case .failure:
                // Never read a late reply as the answer to the next frame.
                closeSocket()
            case .success:
                break
            }
            return r
        }
        return .failure(.closed(endpoint: endpoint.description, receivedBytes: 0))
    }

    /// A kept connection is usable if the peer has not closed it; stray
    /// bytes waiting on it (a reply that came too late) are dropped.
    private func connectionAlive() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 1024)
        // A peer that keeps streaming unasked-for bytes is not one to keep.
        for _ in 0..<16 {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { continue }
            if n == 0 { return false }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK
        }
        return false
    }

    // MARK: UDP

    private func exchangeUDP(_ frame: [UInt8], _ ms: Int, _ judge: ([UInt8]) -> DC09Verdict) -> Result<DC09Reply, DC09LinkError> {
        closeSocket()
        let deadline = Self.monotonicMilliseconds() + Int64(ms)
        switch open(type: SOCK_DGRAM, deadline: deadline, timeout: ms) {
        case .success(let s): fd = s
        case .failure(let e): return .failure(e)
        }
        defer { closeSocket() }
        if case .failure(let e) = sendAll(frame, deadline: deadline) { return .failure(e) }
        return receive(deadline: deadline, timeout: ms, datagrams: true, judge: judge)
    }

    // MARK: Plumbing

    private func open(type: __socket_type, deadline: Int64, timeout ms: Int) -> Result<Int32, DC09LinkError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(type.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let first = list else {
            return .failure(.resolve(host: endpoint.host, reason: String(cString: gai_strerror(rc))))
        }
        defer { freeaddrinfo(list) }
        var lastError = DC09LinkError.connect(endpoint: endpoint.description, errno: ECONNREFUSED)
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let s = socket(a.pointee.ai_family, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if s < 0 { lastError = .socket(call: "socket", errno: errno); continue }
            if type == SOCK_STREAM {
                var one: Int32 = 1
                _ = setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            if connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return .success(s) }
            guard errno == EINPROGRESS else { lastError = .connect(endpoint: endpoint.description, errno: errno); close(s); continue }
            switch wait(s, events: Int16(POLLOUT), deadline: deadline) {
            case .ready:
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                _ = getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
                if err == 0 { return .success(s) }
                lastError = .connect(endpoint: endpoint.description, errno: err)
            case .timeout:
                lastError = .connectTimeout(endpoint: endpoint.description, milliseconds: ms)
            case .interrupted:
                close(s)
                return .failure(.cancelled)
            case .failed(let n):
                lastError = .socket(call: "poll", errno: n)
            }
            close(s)
        }
        return .failure(lastError)
    }

    private func sendAll(_ bytes: [UInt8], deadline: Int64) -> Result<Void, DC09LinkError> {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 { off += n; continue }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN || e == EWOULDBLOCK else { return .failure(.send(endpoint: endpoint.description, errno: e)) }
            switch wait(fd, events: Int16(POLLOUT), deadline: deadline) {
            case .ready: continue
            case .timeout: return .failure(.send(endpoint: endpoint.description, errno: ETIMEDOUT))
            case .interrupted: return .failure(.cancelled)
            case .failed(let n): return .failure(.socket(call: "poll", errno: n))
            }
        }
        return .success(())
    }

    private func receive(deadline: Int64, timeout ms: Int, datagrams: Bool, judge: ([UInt8]) -> DC09Verdict) -> Result<DC09Reply, DC09LinkError> {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        var total = 0
        var ignored: [String] = []
        let ep = endpoint.description
        while true {
            switch wait(fd, events: Int16(POLLIN), deadline: deadline) {
            case .ready: break
            case .timeout: return .failure(.noReply(endpoint: ep, milliseconds: ms, receivedBytes: buffer.count, ignored: ignored))
            case .interrupted: return .failure(.cancelled)
            case .failed(let n): return .failure(.socket(call: "poll", errno: n))
            }
            let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            if n < 0 {
                let e = errno
                if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { continue }
                return .failure(.receive(endpoint: ep, errno: e))
            }
            if n == 0, !datagrams { return .failure(.closed(endpoint: ep, receivedBytes: total)) }
            total += n
            if datagrams {
                guard n <= DC09.maximumReplyBytes else { return .failure(.badReply(endpoint: ep, .codec(.oversized(bytes: n)))) }
                switch judge(Array(chunk[0..<n])) {
                case .accept(let r): return .success(r)
                case .ignore(let why): ignored.append(why)
                case .reject(let e): return .failure(.badReply(endpoint: ep, e))
                }
                continue
            }
            buffer += chunk[0..<n]
            scanning: while true {
                switch DC09Reply.scan(buffer) {
                case .complete(let count):
                    let one = Array(buffer[0..<count])
                    buffer.removeFirst(count)
                    switch judge(one) {
                    case .accept(let r): return .success(r)
                    case .ignore(let why): ignored.append(why)
                    case .reject(let e): return .failure(.badReply(endpoint: ep, e))
                    }
                case .needMore:
                    break scanning
                case .oversized:
                    return .failure(.badReply(endpoint: ep, .codec(.oversized(bytes: buffer.count))))
                }
            }
        }
    }

    private enum Wait { case ready, timeout, interrupted, failed(Int32) }

    private func wait(_ s: Int32, events: Int16, deadline: Int64) -> Wait {
        while true {
            let remaining = deadline - Self.monotonicMilliseconds()
            if remaining <= 0 { return .timeout }
            var fds = [pollfd(fd: s, events: events, revents: 0), pollfd(fd: interrupt.readFD, events: Int16(POLLIN), revents: 0)]
            let rc = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 60_000)))
            if rc < 0 {
                if errno == EINTR { continue }
                return .failed(errno)
            }
            if fds[1].revents != 0 { return .interrupted }
            if fds[0].revents != 0 { return .ready }
        }
    }

    static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
