import Foundation
import PanicCore
@testable import PanicDC09
#if canImport(Glibc)
import Glibc
#endif

/// The real clocks, for tests that talk to sockets.
struct RealClock: GatewayClock {
    func monotonicNow() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .init(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    func wallNow() -> WallTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return .init(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}

/// A value behind a lock.
final class Box<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    func mutate<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&stored) } }
}

/// An alarm receiver on 127.0.0.1 whose answers a test scripts: it reads
/// one frame (up to CR, or one datagram), records it, and does what
/// `behaviour` says. Its clock can run ahead of ours (`clockShift`), and it
/// then NAKs frames outside its window (+20 s / −40 s) with its own time.
final class FakeReceiver: @unchecked Sendable {
    enum Behaviour: Sendable {
        case ack
        case duh
        case bareNak
        case garbage
        case silence
        case closeMidReply
        case closeWithoutReply
        case wrongSequence
        case oversized
        case plaintextAck
        case bareAck
        /// A NAK with the receiver's time to every frame, as a receiver that
        /// cannot decrypt or parse them answers.
        case timedNak
    }

    struct Received: Sendable {
        var raw: [UInt8]
        var frame: DC09Frame?
        var at: WallTime
        var answered: String
    }

    let port: Int
    let key: [UInt8]?
    let behaviour: Box<Behaviour>
    let clockShift: Box<Nanoseconds>
    let received = Box<[Received]>([])
    /// TCP connections accepted so far.
    let connections = Box(0)
    /// Close the TCP connection after every reply (receivers that do).
    let closeAfterReply = Box(false)
    private let udp: Bool
    private let listener: Int32
    private let stopping = Box(false)
    private let clock = RealClock()

    init(behaviour: Behaviour = .ack, key: [UInt8]? = nil, udp: Bool = false, port: Int = 0, clockShift: Nanoseconds = .init(0)) throws {
        self.behaviour = Box(behaviour)
        self.key = key
        self.udp = udp
        self.clockShift = Box(clockShift)
        let s = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw POSIXError(.EIO) }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(s); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        if !udp { listen(s, 8) }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        self.port = Int(UInt16(bigEndian: bound.sin_port))
        self.listener = s
        let t = Thread { [self] in udp ? serveUDP() : acceptLoop() }
        t.start()
    }

    func stop() {
        stopping.value = true
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    var frames: [DC09Frame] { received.value.compactMap(\.frame) }

    /// The receiver's clock.
    var now: WallTime { clock.wallNow() + clockShift.value }

    private func acceptLoop() {
        while !stopping.value {
            let c = accept(listener, nil, nil)
            if c < 0 {
                if stopping.value { return }
                if errno == EINTR { continue }
                return
            }
            connections.mutate { $0 += 1 }
            Thread { [self] in serveTCP(c) }.start()
        }
    }

    private func serveTCP(_ c: Int32) {
        defer { close(c) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !stopping.value {
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) == 0 { continue }
            let n = recv(c, &chunk, chunk.count, 0)
            if n <= 0 { return }
            buffer += chunk[0..<n]
            while let cr = buffer.firstIndex(of: 0x0D) {
                let one = Array(buffer[0...cr])
                buffer.removeFirst(cr + 1)
                guard let reply = answer(one) else { continue }
                if reply.isEmpty { return }  // close without (the rest of) a reply
                if reply == [0xFF] {  // close mid-reply
                    _ = send(c, "\n5BED0014\"AC", 12, Int32(MSG_NOSIGNAL))
                    return
                }
                _ = reply.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if closeAfterReply.value { return }
            }
        }
    }

    private func serveUDP() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !stopping.value {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) <= 0 { continue }
            var from = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(listener, &chunk, chunk.count, 0, $0, &len) } }
            if n <= 0 { return }
            guard let reply = answer(Array(chunk[0..<n])), !reply.isEmpty, reply != [0xFF] else { continue }
            _ = withUnsafePointer(to: &from) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in reply.withUnsafeBytes { sendto(listener, $0.baseAddress, $0.count, 0, a, len) } }
            }
        }
    }

    /// The reply to one frame: nil for silence, [] to close, [0xFF] to close mid-reply.
    private func answer(_ raw: [UInt8]) -> [UInt8]? {
        let frame = try? DC09Frame.decode(raw, key: key)
        let now = self.now
        var reply: [UInt8]?
        var what: String
        let mode = behaviour.value
        if let f = frame, mode == .ack || mode == .plaintextAck, let stamp = f.timestamp,
           stamp < now - .seconds(40) || now + .seconds(20) < stamp {
            reply = try? DC09Frame.wrap(body: "\"NAK\"0000R0L0A0[]_" + DC09Timestamp.format(now))
            what = "NAK"
        } else {
            switch (mode, frame) {
            case (.ack, let f?):
                reply = try? DC09Frame(id: "ACK", encrypted: f.encrypted, sequence: f.sequence, receiver: f.receiver, linePrefix: f.linePrefix,
                                       account: f.account, timestamp: f.encrypted ? now : nil).encode(key: key)
                what = "ACK"
            case (.plaintextAck, let f?):
                reply = try? DC09Frame(id: "ACK", sequence: f.sequence, receiver: f.receiver, linePrefix: f.linePrefix, account: f.account).encode()
                what = "plaintext ACK"
            case (.wrongSequence, let f?):
                reply = try? DC09Frame(id: "ACK", encrypted: f.encrypted, sequence: (f.sequence % 9999) + 1, receiver: f.receiver, linePrefix: f.linePrefix,
                                       account: f.account, timestamp: f.encrypted ? now : nil).encode(key: key)
                what = "ACK with the wrong sequence"
            case (.duh, let f?):
                reply = try? DC09Frame(id: "DUH", sequence: f.sequence, receiver: f.receiver, linePrefix: f.linePrefix, account: f.account).encode()
                what = "DUH"
            case (.ack, nil), (.plaintextAck, nil), (.wrongSequence, nil), (.duh, nil):
                reply = nil
                what = "nothing (unreadable frame)"
            case (.bareNak, _): reply = Array("\"NAK\"".utf8); what = "bare NAK"
            case (.bareAck, _): reply = Array("\"ACK\"".utf8); what = "bare ACK"
            case (.timedNak, _): reply = try? DC09Frame.wrap(body: "\"NAK\"0000R0L0A0[]_" + DC09Timestamp.format(now)); what = "NAK"
            case (.garbage, _): reply = Array("\n\u{1}\u{2}hello there\r".utf8); what = "garbage"
            case (.silence, _): reply = nil; what = "silence"
            case (.closeMidReply, _): reply = [0xFF]; what = "close mid-reply"
            case (.closeWithoutReply, _): reply = []; what = "close"
            case (.oversized, _): reply = [UInt8](repeating: 0x41, count: 3000); what = "oversized"
            }
        }
        received.mutate { $0.append(.init(raw: raw, frame: frame, at: clock.wallNow(), answered: what)) }
        return reply
    }
}

/// A port nothing listens on (bound, then closed): connections are refused.
func refusedPort() throws -> Int {
    let r = try FakeReceiver()
    r.stop()
    return r.port
}

extension WallTime {
    static func - (a: WallTime, d: Nanoseconds) -> WallTime { a + Nanoseconds(-d.value) }
}
