#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import PanicCore

/// Speaks systemd's service notification protocol (sd_notify(3)) directly,
/// without libsystemd: newline-separated `KEY=VALUE` assignments in one
/// datagram, sent over an `AF_UNIX`/`SOCK_DGRAM` socket to the address in
/// `NOTIFY_SOCKET` (a path, or an abstract name written with a leading `@`).
///
/// Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing. A send
/// never blocks (`MSG_DONTWAIT`) and never throws: a failure is logged once
/// at warning level, later ones at debug level, and counted in ``failures``.
/// Safe to call from any thread.
public final class SystemdNotifier: @unchecked Sendable {
    /// Where the datagrams go, as parsed from `NOTIFY_SOCKET`.
    public enum Address: Equatable, Sendable {
        /// A socket in the file system, such as `/run/systemd/notify`.
        case path(String)
        /// A socket in the abstract namespace: `NOTIFY_SOCKET=@name`, without the `@`.
        case abstract(String)
    }

    /// The socket systemd listens on; nil when not started by systemd
    /// (or when `NOTIFY_SOCKET` names something this type cannot reach).
    public let address: Address?
    private let logger: Logger
    private let lock = Mutex()
    private var fd: Int32 = -1
    private var failureCount = 0

    /// - Parameter environment: the process environment; tests pass their own
    ///   dictionary instead of calling `setenv`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.logger = logger
        let raw = environment["NOTIFY_SOCKET"] ?? ""
        address = Self.parse(raw)
        if address == nil, !raw.isEmpty {
            logger.warning("NOTIFY_SOCKET is neither an absolute path nor an abstract @name; systemd will not hear from this process",
                           metadata: ["notify.socket": "\(raw)"])
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Whether notifications go anywhere.
    public var isEnabled: Bool { address != nil }

    /// Sends that failed so far.
    public var failures: Int { lock.withLock { failureCount } }

    /// `READY=1`: start-up is finished (inputs open, outbox loaded).
    public func ready(status: String? = nil) {
        send(["READY=1"] + Self.statusLine(status))
    }

    /// `STOPPING=1`: the service is shutting down.
    public func stopping(status: String? = nil) {
        send(["STOPPING=1"] + Self.statusLine(status))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC, as systemd asks
    /// of reloads); send ``ready(status:)`` once the new configuration runs.
    public func reloading(status: String? = nil) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        send(["RELOADING=1", "MONOTONIC_USEC=\(usec)"] + Self.statusLine(status))
    }

    /// `STATUS=…`: one line shown by `systemctl status`.
    public func status(_ text: String) {
        send(Self.statusLine(text))
    }

    /// `WATCHDOG=1`: the service is alive; see ``Watchdog`` for when to say so.
    public func watchdog() {
        send(["WATCHDOG=1"])
    }

    /// Sends assignments (`KEY=VALUE`) in one datagram.
    /// - Returns: whether the datagram was handed to the kernel; false when
    ///   disabled or on failure (already logged).
    @discardableResult
    public func send(_ assignments: [String]) -> Bool {
        guard let address, !assignments.isEmpty else { return false }
        let message = Array(assignments.joined(separator: "\n").utf8)
        return lock.withLock {
            if fd < 0 {
                fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                if fd < 0 { return failed("socket", errno: errno) }
            }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let name = Self.sunPath(address)
            guard name.count <= MemoryLayout.size(ofValue: addr.sun_path) else { return failed("address too long", errno: ENAMETOOLONG) }
            withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: name) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count)
            while true {
                let sent = withUnsafePointer(to: &addr) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), sa, length) }
                    }
                }
                if sent >= 0 { return true }
                if errno == EINTR { continue }
                return failed("sendto", errno: errno)
            }
        }
    }

    /// Counts a failure; logs the first at warning level. Call with the lock held.
    private func failed(_ what: String, errno code: Int32) -> Bool {
        failureCount += 1
        let metadata: Logger.Metadata = [
            "notify.socket": "\(address.map(Self.describe) ?? "")", "error": "\(what): \(String(cString: strerror(code)))",
        ]
        if failureCount == 1 {
            logger.warning("cannot notify systemd; further failures are logged at debug level", metadata: metadata)
        } else {
            logger.debug("cannot notify systemd", metadata: metadata)
        }
        return false
    }

    static func parse(_ raw: String) -> Address? {
        if raw.hasPrefix("/") { return .path(raw) }
        if raw.hasPrefix("@"), raw.count > 1 { return .abstract(String(raw.dropFirst())) }
        return nil
    }

    /// The bytes of `sun_path`: a path ends with NUL; an abstract name starts
    /// with NUL and has none at the end (its length is the address length).
    static func sunPath(_ address: Address) -> [UInt8] {
        switch address {
        case .path(let p): Array(p.utf8) + [0]
        case .abstract(let n): [0] + Array(n.utf8)
        }
    }

    static func describe(_ address: Address) -> String {
        switch address {
        case .path(let p): p
        case .abstract(let n): "@" + n
        }
    }

    /// `STATUS=` with line breaks flattened: a newline would start a new assignment.
    static func statusLine(_ text: String?) -> [String] {
        guard let text else { return [] }
        return ["STATUS=" + text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")]
    }
}
