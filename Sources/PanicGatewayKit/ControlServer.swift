import Foundation
import Logging
import PanicCore
import PanicPlatform
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's control socket: a Unix stream socket (mode 0660, the
/// control group), JSON lines, version 1. Each client has its own thread;
/// requests are bounded in size; peers are checked with SO_PEERCRED so only
/// root, the daemon's user and the control group get in. Nothing a client
/// does can reach the input loop except through non-blocking hand-offs.
public final class ControlServer: Service, @unchecked Sendable {
    public static let protocolVersion = 1
    public static let maximumRequest = 64 * 1024
    public static let maximumClients = 16

    let path: String
    let groupID: gid_t
    let handler: ControlHandler
    let logger: Logger
    private var listenFD: Int32 = -1
    private let clients = Locked(0)

    public init(path: String, group: String?, handler: ControlHandler, logger: Logger) {
        self.path = path
        self.groupID = group.flatMap { getgrnam($0)?.pointee.gr_gid } ?? getegid()
        self.handler = handler
        self.logger = logger
    }

    public func run() async throws {
        try bind()
        let fd = listenFD
        let thread = Thread { [self] in nameCurrentThread("control-accept"); acceptLoop(fd) }
        thread.name = "control-accept"
        thread.start()
        try? await gracefulShutdown()
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }

    private func bind() throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(call: "socket(AF_UNIX)", errno: errno) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SystemError(call: "bind", subject: path, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { let e = errno; close(fd); throw SystemError(call: "bind", subject: path, errno: e) }
        chmod(path, 0o660)
        _ = chown(path, geteuid(), groupID)
        guard listen(fd, 16) == 0 else { throw SystemError(call: "listen", subject: path, errno: errno) }
        listenFD = fd
        logger.info("control socket listening", metadata: ["socket.path": "\(path)"])
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            // A client that connects and says nothing gives its slot back after
            // 30 s, so idle connections cannot lock the technician out.
            var idle = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &idle, socklen_t(MemoryLayout<timeval>.size))
            let count = clients.mutate { c -> Int in c += 1; return c }
            let t = Thread { [self] in
                defer { close(client); clients.mutate { $0 -= 1 } }
                guard count <= Self.maximumClients else {
                    Self.send(client, ["v": Self.protocolVersion, "ok": false, "error": "too many clients (\(Self.maximumClients)); try again"])
                    return
                }
                serve(client)
            }
            t.name = "control-client"
            t.start()
        }
    }

    /// Whether the peer may use the socket: root, the daemon's user, or a
    /// member of the control group.
    func authorized(_ fd: Int32) -> (Bool, String) {
        guard let peer = try? PeerCredentials.of(socket: fd) else { return (false, "cannot read peer credentials") }
        if peer.uid == 0 || peer.uid == geteuid() || peer.gid == groupID { return (true, "") }
        if let pw = getpwuid(peer.uid) {
            var groups = [gid_t](repeating: 0, count: 64)
            var n: Int32 = 64
            if getgrouplist(pw.pointee.pw_name, pw.pointee.pw_gid, &groups, &n) >= 0, groups.prefix(Int(n)).contains(groupID) { return (true, "") }
        }
        let group = getgrgid(groupID).map { String(cString: $0.pointee.gr_name) } ?? String(groupID)
        return (false, "permission denied: uid \(peer.uid) is not in group \"\(group)\"")
    }

    private func serve(_ fd: Int32) {
        let (ok, why) = authorized(fd)
        guard ok else {
            Self.send(fd, ["v": Self.protocolVersion, "ok": false, "error": why])
            logger.warning("control client refused", metadata: ["reason": "\(why)"])
            return
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if n <= 0 { return }
            buffer += chunk[0..<n]
            while let nl = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                if !handle(line, fd: fd) { return }
            }
            if buffer.count > Self.maximumRequest {
                Self.send(fd, ["v": Self.protocolVersion, "ok": false, "error": "request larger than \(Self.maximumRequest) bytes"])
                return
            }
        }
    }

    /// Returns false when the connection should close.
    private func handle(_ line: [UInt8], fd: Int32) -> Bool {
        let command: String, args: [String: Any]
        switch ControlRequest.decode(line) {
        case .success(let r): (command, args) = r
        case .failure(let e): return Self.send(fd, ["v": Self.protocolVersion, "ok": false, "error": e.message])
        }
        let stream = ControlStream(fd: fd)
        let result = handler.handle(command: command, args: args, stream: stream)
        var reply: [String: Any] = ["v": Self.protocolVersion, "ok": result.ok, "done": true]
        if let r = result.result { reply["result"] = r }
        if let e = result.error { reply["error"] = e }
        return Self.send(fd, reply) && !stream.broken
    }

    @discardableResult
    static func send(_ fd: Int32, _ object: [String: Any]) -> Bool {
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return false }
        data.append(0x0A)
        return data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
    }
}

/// Lets a streaming command (watch, test) send events before its reply.
public final class ControlStream: @unchecked Sendable {
    let fd: Int32
    public private(set) var broken = false
    init(fd: Int32) { self.fd = fd }

    /// Sends one event line; false once the client is gone or too slow.
    @discardableResult
    public func event(_ e: ControlEvent) -> Bool { event(e.json) }

    @discardableResult
    func event(_ object: [String: Any]) -> Bool {
        if broken { return false }
        if !ControlServer.send(fd, ["v": ControlServer.protocolVersion, "event": object]) { broken = true }
        return !broken
    }

    /// Whether the client hung up (checked without blocking).
    public var clientGone: Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN) | 0x2000, revents: 0)
        guard poll(&pfd, 1, 0) > 0 else { return broken }
        if pfd.revents & (Int16(POLLHUP) | Int16(POLLERR) | 0x2000) != 0 { broken = true }
        return broken
    }
}

/// The answer to one command.
public struct ControlResult {
    public var ok: Bool
    public var result: Any?
    public var error: String?
    public static func success(_ r: Any) -> ControlResult { .init(ok: true, result: r, error: nil) }
    public static func failure(_ e: String, _ r: Any? = nil) -> ControlResult { .init(ok: false, result: r, error: e) }
}

/// What the daemon does for each command.
public protocol ControlHandler: Sendable {
    func handle(command: String, args: [String: Any], stream: ControlStream) -> ControlResult
}
