import CGpiod
import Foundation
import PanicCore
#if canImport(Glibc)
import Glibc
#endif

/// Everything needed to request one input line.
public struct GPIOLineRequest: Sendable, Equatable {
    /// `gpiochip0`, a chip label, or a path such as `/dev/gpiochip0`.
    public var chip: String
    public var line: GPIOLineSelector
    public var bias: GPIOBias
    public var activeLow: Bool
    public var consumer: String

    public init(chip: String, line: GPIOLineSelector, bias: GPIOBias = .asIs, activeLow: Bool = false, consumer: String = "panic-gateway") {
        self.chip = chip
        self.line = line
        self.bias = bias
        self.activeLow = activeLow
        self.consumer = consumer
    }
}

/// One edge as the kernel reported it.
public struct GPIOEdge: Sendable, Equatable {
    /// The kernel's CLOCK_MONOTONIC stamp of the edge.
    public var at: MonotonicInstant
    /// The line became active (after active-low).
    public var rising: Bool

    public init(at: MonotonicInstant, rising: Bool) {
        self.at = at
        self.rising = rising
    }
}

/// Why a GPIO line could not be used, worded for the person who must fix it.
public enum GPIOError: Error, Equatable, CustomStringConvertible {
    case chipNotFound(String)
    case lineNotFound(chip: String, line: GPIOLineSelector)
    case busy(chip: String, line: GPIOLineSelector, consumer: String)
    case permissionDenied(node: String, group: String)
    case removed(chip: String)
    case failed(chip: String, what: String, errno: Int32)

    public var description: String {
        switch self {
        case .chipNotFound(let c):
            "GPIO chip \(c) not found (looked for /dev/\(c), \(c) as a path, and the labels of /dev/gpiochip*)"
        case .lineNotFound(let c, let l):
            "GPIO \(l) not found on chip \(c)"
        case .busy(let c, let l, let consumer):
            "GPIO \(l) on \(c) is in use by \"\(consumer.isEmpty ? "unknown" : consumer)\"; stop that consumer or choose another line"
        case .permissionDenied(let node, let group):
            "permission denied opening \(node); add the gateway's user to group \"\(group)\" (the group that owns \(node)) or fix its udev rule"
        case .removed(let c):
            "GPIO chip \(c) was removed"
        case .failed(let c, let what, let e):
            "GPIO chip \(c): \(what) failed: \(String(cString: strerror(e))) [errno \(e)]"
        }
    }
}

/// An open, requested line: an fd to watch for edges.
public protocol GPIOLineHandle: AnyObject {
    var fd: Int32 { get }
    /// Reads pending edges without blocking.
    func readEdges() throws(GPIOError) -> [GPIOEdge]
    /// The line's logical level now (after active-low).
    func value() throws(GPIOError) -> Bool
    func close()
}

/// A line requested as an output: a lamp at a button.
public protocol GPIOOutputHandle: AnyObject, Sendable {
    /// Drives the line (logical level, after active-low).
    func set(_ on: Bool) throws(GPIOError)
    func close()
}

/// Opens lines. The real one is libgpiod; tests replace it.
public protocol GPIOBackend: Sendable {
    func request(_ request: GPIOLineRequest) throws(GPIOError) -> any GPIOLineHandle
    /// Requests an output line, driven to `initial` at once.
    func requestOutput(_ request: GPIOLineRequest, initial: Bool) throws(GPIOError) -> any GPIOOutputHandle
}

extension GPIOBackend {
    public func requestOutput(_ request: GPIOLineRequest, initial: Bool) throws(GPIOError) -> any GPIOOutputHandle {
        throw .failed(chip: request.chip, what: "request an output line (not supported by this backend)", errno: ENOTSUP)
    }
}

/// libgpiod 1.6 (Debian 12) or 2.x (Debian 13), whichever the build found.
public struct LibgpiodBackend: GPIOBackend {
    public init() {}

    static func shimBias(_ b: GPIOBias) -> Int32 {
        switch b {
        case .asIs: 0
        case .disable: 1
        case .pullUp: 2
        case .pullDown: 3
        }
    }

    /// Which libgpiod API this binary was built against.
    public static var api: String { String(cString: cpanic_gpio_api()) }

    public func request(_ r: GPIOLineRequest) throws(GPIOError) -> any GPIOLineHandle {
        let (path, offset) = try Self.locate(r)
        guard let handle = cpanic_gpio_request(path, offset, Self.shimBias(r.bias), r.activeLow ? 1 : 0, r.consumer) else {
            throw Self.requestError(errno, r, path: path, offset: offset, what: "request \(r.line)")
        }
        let fd = cpanic_gpio_fd(handle)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return LibgpiodLine(handle: handle, chip: r.chip)
    }

    public func requestOutput(_ r: GPIOLineRequest, initial: Bool) throws(GPIOError) -> any GPIOOutputHandle {
        let (path, offset) = try Self.locate(r)
        guard let handle = cpanic_gpio_request_output(path, offset, r.activeLow ? 1 : 0, initial ? 1 : 0, r.consumer) else {
            throw Self.requestError(errno, r, path: path, offset: offset, what: "request \(r.line) as an output")
        }
        return LibgpiodOutput(handle: handle, chip: r.chip)
    }

    /// The chip's device path and the line's offset on it.
    static func locate(_ r: GPIOLineRequest) throws(GPIOError) -> (String, UInt32) {
        let path = try GPIOChips.resolve(r.chip)
        switch r.line {
        case .offset(let o):
            return (path, UInt32(o))
        case .name(let n):
            let found = cpanic_gpio_find_line(path, n)
            if found < 0 { throw errno == ENOENT ? .lineNotFound(chip: r.chip, line: r.line) : GPIOChips.error(errno, chip: r.chip, path: path, what: "find line") }
            return (path, UInt32(found))
        }
    }

    /// Why a line request failed, naming the consumer that holds a busy line.
    static func requestError(_ e: Int32, _ r: GPIOLineRequest, path: String, offset: UInt32, what: String) -> GPIOError {
        switch e {
        case EBUSY:
            var name = [CChar](repeating: 0, count: 64), consumer = [CChar](repeating: 0, count: 64)
            _ = cpanic_gpio_line_info(path, offset, &name, 64, &consumer, 64)
            return .busy(chip: r.chip, line: r.line, consumer: String(cString: consumer))
        case EINVAL:
            return .lineNotFound(chip: r.chip, line: r.line)
        default:
            return GPIOChips.error(e, chip: r.chip, path: path, what: what)
        }
    }
}

/// An output line; one owner (the lamp service) drives it.
final class LibgpiodOutput: GPIOOutputHandle, @unchecked Sendable {
    private let lock = Mutex()
    private var handle: UnsafeMutablePointer<cpanic_gpio>?
    private let chip: String

    init(handle: UnsafeMutablePointer<cpanic_gpio>, chip: String) {
        self.handle = handle
        self.chip = chip
    }

    deinit { close() }

    func set(_ on: Bool) throws(GPIOError) {
        let failed: Int32? = lock.withLock {
            guard let handle else { return ENODEV }
            return cpanic_gpio_set(handle, on ? 1 : 0) < 0 ? errno : nil
        }
        if let e = failed { throw e == ENODEV ? .removed(chip: chip) : .failed(chip: chip, what: "set the lamp line", errno: e) }
    }

    func close() {
        lock.withLock {
            if let handle { cpanic_gpio_release(handle) }
            handle = nil
        }
    }
}

final class LibgpiodLine: GPIOLineHandle {
    private var handle: UnsafeMutablePointer<cpanic_gpio>?
    private let chip: String
    let fd: Int32

    init(handle: UnsafeMutablePointer<cpanic_gpio>, chip: String) {
        self.handle = handle
        self.chip = chip
        self.fd = cpanic_gpio_fd(handle)
    }

    deinit { close() }

    func readEdges() throws(GPIOError) -> [GPIOEdge] {
        guard let handle else { return [] }
        var events = [cpanic_gpio_event](repeating: .init(), count: 16)
        let n = cpanic_gpio_read(handle, &events, 16)
        if n < 0 {
            let e = errno
            if e == EAGAIN || e == EINTR { return [] }
            if e == ENODEV || e == EIO { throw .removed(chip: chip) }
            throw .failed(chip: chip, what: "read events", errno: e)
        }
        return events.prefix(Int(n)).map { GPIOEdge(at: .init(nanoseconds: $0.timestamp_ns), rising: $0.rising != 0) }
    }

    func value() throws(GPIOError) -> Bool {
        guard let handle else { throw .removed(chip: chip) }
        let v = cpanic_gpio_value(handle)
        if v < 0 { throw errno == ENODEV ? .removed(chip: chip) : .failed(chip: chip, what: "read value", errno: errno) }
        return v == 1
    }

    func close() {
        if let handle { cpanic_gpio_release(handle) }
        handle = nil
    }
}

/// The GPIO chips present, read from the hardware.
public enum GPIOChips {
    public struct Line: Sendable, Equatable {
        public var offset: Int
        public var name: String
        public var consumer: String
        public var used: Bool
    }

    public struct Chip: Sendable, Equatable {
        public var path: String
        public var name: String
        public var label: String
        public var lines: [Line]
    }

    /// `/dev/gpiochip*`, in numeric order.
    public static func paths(devDirectory: String = "/dev") -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: devDirectory)) ?? []
        return names.filter { $0.hasPrefix("gpiochip") }
            .sorted { (Int($0.dropFirst(8)) ?? 0) < (Int($1.dropFirst(8)) ?? 0) }
            .map { "\(devDirectory)/\($0)" }
    }

    /// Every chip and line with names and consumers; chips that cannot be
    /// opened are listed with the reason as their label.
    public static func list() -> [Chip] {
        paths().map { path in
            var name = [CChar](repeating: 0, count: 64), label = [CChar](repeating: 0, count: 64)
            let n = cpanic_gpio_chip_info(path, &name, 64, &label, 64)
            if n < 0 { return Chip(path: path, name: (path as NSString).lastPathComponent, label: "(cannot open: \(String(cString: strerror(errno))))", lines: []) }
            let lines = (0..<Int(n)).map { i -> Line in
                var ln = [CChar](repeating: 0, count: 64), consumer = [CChar](repeating: 0, count: 64)
                let used = cpanic_gpio_line_info(path, UInt32(i), &ln, 64, &consumer, 64)
                return Line(offset: i, name: String(cString: ln), consumer: String(cString: consumer), used: used == 1)
            }
            return Chip(path: path, name: String(cString: name), label: String(cString: label), lines: lines)
        }
    }

    /// Finds the device node for a chip given by name, label or path.
    public static func resolve(_ spec: String) throws(GPIOError) -> String {
        if spec.hasPrefix("/") {
            guard FileManager.default.fileExists(atPath: spec) else { throw .chipNotFound(spec) }
            return spec
        }
        if FileManager.default.fileExists(atPath: "/dev/\(spec)") { return "/dev/\(spec)" }
        for path in paths() {
            var name = [CChar](repeating: 0, count: 64), label = [CChar](repeating: 0, count: 64)
            if cpanic_gpio_chip_info(path, &name, 64, &label, 64) >= 0, String(cString: label) == spec { return path }
        }
        throw .chipNotFound(spec)
    }

    static func error(_ e: Int32, chip: String, path: String, what: String) -> GPIOError {
        switch e {
        case ENOENT, ENODEV: return .chipNotFound(chip)
        case EACCES, EPERM: return .permissionDenied(node: path, group: groupName(of: path))
        default: return .failed(chip: chip, what: what, errno: e)
        }
    }

    /// The name of the group that owns `path` (the one to join for access).
    public static func groupName(of path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "?" }
        guard let g = getgrgid(st.st_gid) else { return String(st.st_gid) }
        return String(cString: g.pointee.gr_name)
    }
}
