import CPanicSys
#if canImport(Glibc)
import Glibc
#endif

/// An epoll instance. Owned by one thread; not shared.
public final class Epoll {
    public let fd: Int32

    /// What a readiness report says about a descriptor.
    public struct Readiness: Sendable {
        public var token: UInt64
        public var readable: Bool
        /// Hang-up or error: the device went away or the peer closed.
        public var hangup: Bool
    }

    public init() throws(SystemError) {
        fd = try syscall("epoll_create1") { cpanic_epoll_create() }
    }

    deinit { close(fd) }

    /// Watches `descriptor` for input; readiness reports carry `token`.
    public func add(_ descriptor: Int32, token: UInt64) throws(SystemError) {
        try syscall("epoll_ctl(ADD)", "fd \(descriptor)") {
            cpanic_epoll_add(fd, descriptor, CPANIC_EPOLLIN | CPANIC_EPOLLRDHUP, token)
        }
    }

    public func remove(_ descriptor: Int32) {
        _ = cpanic_epoll_del(fd, descriptor)
    }

    /// Blocks until something is ready (no timeout: timers are timerfds).
    public func wait(into out: inout [Readiness], timeoutMilliseconds: Int32 = -1) throws(SystemError) {
        out.removeAll(keepingCapacity: true)
        var tokens = [UInt64](repeating: 0, count: 64)
        var masks = [UInt32](repeating: 0, count: 64)
        let n = try tokens.withUnsafeMutableBufferPointer { t throws(SystemError) in
            try masks.withUnsafeMutableBufferPointer { m throws(SystemError) in
                try syscall("epoll_wait") { cpanic_epoll_wait(fd, t.baseAddress, m.baseAddress, 64, timeoutMilliseconds) }
            }
        }
        for i in 0..<Int(n) {
            let m = masks[i]
            out.append(.init(
                token: tokens[i], readable: m & CPANIC_EPOLLIN != 0,
                hangup: m & (CPANIC_EPOLLHUP | CPANIC_EPOLLERR) != 0))
        }
    }
}

/// A CLOCK_MONOTONIC timerfd armed at absolute instants.
public final class MonotonicTimer {
    public let fd: Int32
    public private(set) var armedAt: Int64 = 0

    public init() throws(SystemError) {
        fd = try syscall("timerfd_create") { cpanic_timerfd_create() }
    }

    deinit { close(fd) }

    /// Fires once at `nanoseconds` on CLOCK_MONOTONIC; nil disarms. A time
    /// already past fires at once.
    public func arm(at nanoseconds: Int64?) throws(SystemError) {
        let target = nanoseconds.map { max($0, 1) } ?? 0
        if target == armedAt { return }
        try syscall("timerfd_settime") { cpanic_timerfd_arm_abs(fd, target) }
        armedAt = target
    }

    /// Consumes the expiration count after the fd reported readable.
    public func acknowledge() {
        var count: UInt64 = 0
        _ = read(fd, &count, 8)
        armedAt = 0
    }
}

/// An eventfd: a counter other threads bump to wake the loop.
public final class EventCounter: @unchecked Sendable {
    public let fd: Int32

    public init() throws(SystemError) {
        fd = try syscall("eventfd") { cpanic_eventfd_create() }
    }

    deinit { close(fd) }

    /// Wakes whoever waits on `fd`; safe from any thread, never blocks.
    public func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Resets the counter; returns how many signals were pending.
    @discardableResult
    public func drain() -> UInt64 {
        var count: UInt64 = 0
        return read(fd, &count, 8) == 8 ? count : 0
    }
}
