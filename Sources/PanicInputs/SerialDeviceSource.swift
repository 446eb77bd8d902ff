import Foundation
import Logging
import PanicCore
import PanicPlatform

/// One configured serial device (one port, possibly many inputs), found by
/// identity through hotplug or at a fixed path. Keeps the port open (opening
/// resets many boards); unplug closes it and raises trouble; the device's
/// return reopens it and clears the trouble. The protocol is a pure
/// `SerialDriver`; modem status lines use `ModemLineWatcher`.
public final class SerialDeviceSource: InputSource {
    public enum Wire {
        case driver(any SerialDriver)
        /// Each port is one modem status line (a contact from DTR).
        case modemLines([ModemLine])
    }

    public let name: String
    public let match: SerialMatch
    private let settings: SerialSettings
    private var proto: Wire
    private let clock: any GatewayClock
    private let logger: Logger
    private let absentGrace: Nanoseconds
    private var fd: Int32 = -1
    private var watcher: ModemLineWatcher?
    private var modemLevels: [Bool?] = []
    /// Where the device is now, if present.
    public private(set) var path: String?
    /// The node the open descriptor belongs to.
    private var openPath: String?
    private var trouble: String?
    private var everOpened = false
    private var graceDeadline: MonotonicInstant?
    private var retryAt: MonotonicInstant?
    /// When a hotplug removal was reported, until the loop handles it.
    private var goneAt: MonotonicInstant?
    private var goneNotice: Bool { goneAt != nil }
    private var rejected = 0
    private var lastComplaint: Int64 = 0

    public init(name: String, match: SerialMatch, settings: SerialSettings, protocol proto: Wire, clock: any GatewayClock,
                logger: Logger, absentGrace: Nanoseconds = .seconds(10)) {
        self.name = name
        self.match = match
        self.settings = settings
        self.proto = proto
        self.clock = clock
        self.logger = logger
        self.absentGrace = absentGrace
    }

    deinit {
        watcher?.stop()
        if fd >= 0 { close(fd) }
    }

    public var descriptor: Int32 { watcher?.descriptor ?? fd }

    /// Bad input counted so far (noise, garbage, CRC errors…).
    public var rejectedCount: Int { rejected }

    public var wakeAt: MonotonicInstant? {
        var t: [MonotonicInstant] = [retryAt, graceDeadline].compactMap { $0 }
        if let goneAt { t.append(goneAt) }
        if fd >= 0, case .driver(let d) = proto, let w = d.wakeAt { t.append(w) }
        return t.min()
    }

    public func start(emit: (SourceEvent) -> Void) {
        if let fixed = match.path {
            path = fixed
            open(emit: emit)
        } else {
            graceDeadline = clock.monotonicNow() + absentGrace
        }
    }

    /// Hotplug: the device is at `devnode` now. Opened on the next wake
    /// (after a removal still pending there, if one came in the same batch).
    public func appeared(at devnode: String) {
        if fd >= 0 && !goneNotice && openPath == devnode { return }
        path = devnode
        retryAt = clock.monotonicNow()
    }

    /// Hotplug: the node `devnode` went away.
    public func disappeared(at devnode: String) {
        guard path == devnode || openPath == devnode else { return }
        if openPath == devnode { goneAt = clock.monotonicNow() }
        if path == devnode { path = match.path }
    }

    public func wake(now: MonotonicInstant, emit: (SourceEvent) -> Void) {
        if goneNotice {
            goneAt = nil
            unplugged("device removed", emit: emit, retry: false)
        }
        if let r = retryAt, r <= now {
            retryAt = nil
            if fd < 0, path != nil { open(emit: emit) }
        }
        if let g = graceDeadline, g <= now {
            graceDeadline = nil
            if !everOpened && trouble == nil {
                raise("device \(match) not found within \(Int(absentGrace.seconds)) s of start", emit: emit)
            }
        }
        if fd >= 0, case .driver(var d) = proto, let w = d.wakeAt, w <= now {
            let out = d.tick(now: now)
            proto = .driver(d)
            apply(out, emit: emit)
        }
    }

    private func open(emit: (SourceEvent) -> Void) {
        guard let path else { return }
        do {
            fd = try SerialPort.open(path, settings: settings)
        } catch {
            var why = error.description
            if error.errno == EACCES || error.errno == EPERM {
                why = "permission denied opening \(path); add the gateway's user to group \"\(GPIOChips.groupName(of: path))\" or fix its udev rule"
            }
            raise("cannot open \(match): \(why)", emit: emit)
            // A node that exists but will not open is retried; a missing one waits for hotplug.
            if FileManager.default.fileExists(atPath: path) || match.path != nil { retryAt = clock.monotonicNow() + .seconds(1) }
            return
        }
        everOpened = true
        openPath = path
        graceDeadline = nil
        logger.notice("serial device open", metadata: ["device.name": "\(name)", "device.path": "\(path)"])
        if let cause = trouble {
            trouble = nil
            emit(.troubleCleared(cause))
        }
        let now = clock.monotonicNow()
        switch proto {
        case .driver(var d):
            let out = d.connected(now: now)
            proto = .driver(d)
            apply(out, emit: emit)
        case .modemLines(let lines):
            SerialPort.raiseDTR(fd)
            modemLevels = lines.map { $0.read(fd) }
            for (port, level) in modemLevels.enumerated() {
                if let level { emit(.portLevel(port: port, asserted: level, at: now)) }
            }
            do { watcher = try ModemLineWatcher(fd: fd, lines: lines, clock: clock) }
            catch { raise("cannot watch modem lines: \(error)", emit: emit) }
        }
    }

    private func raise(_ cause: String, emit: (SourceEvent) -> Void) {
        if trouble == nil { emit(.trouble(cause)) }
        if trouble != cause { logger.error("serial device in trouble", metadata: ["device.name": "\(name)", "reason": "\(cause)"]) }
        trouble = cause
    }

    private func unplugged(_ why: String, emit: (SourceEvent) -> Void, retry: Bool) {
        guard fd >= 0 else { return }
        watcher?.stop()
        watcher = nil
        close(fd)
        fd = -1
        openPath = nil
        if case .driver(var d) = proto {
            d.disconnected()
            proto = .driver(d)
        }
        raise("\(match) \(why)", emit: emit)
        if retry || match.path != nil { retryAt = clock.monotonicNow() + .seconds(1) }
    }

    public func readReady(emit: (SourceEvent) -> Void) {
        if let watcher {
            for change in watcher.drain() {
                switch change {
                case .lines(let bits, let at):
                    for (port, level) in bits.enumerated() where modemLevels[port] != level {
                        modemLevels[port] = level
                        emit(.portLevel(port: port, asserted: level, at: at))
                    }
                case .gone:
                    unplugged("unplugged", emit: emit, retry: false)
                    return
                }
            }
            return
        }
        guard fd >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 1024)
        for _ in 0..<4 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1024) }
            if n > 0 {
                guard case .driver(var d) = proto else { return }
                let out = d.received(Array(buffer[0..<n]), now: clock.monotonicNow())
                proto = .driver(d)
                apply(out, emit: emit)
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            unplugged(n == 0 ? "unplugged (end of file)" : "unplugged (\(String(cString: strerror(errno))))", emit: emit, retry: false)
            return
        }
    }

    public func hangup(emit: (SourceEvent) -> Void) {
        unplugged("unplugged (hang-up)", emit: emit, retry: false)
    }

    private func apply(_ outputs: [DriverOutput], emit: (SourceEvent) -> Void) {
        for o in outputs {
            switch o {
            case .level(let port, let asserted, let at):
                emit(.portLevel(port: port, asserted: asserted, at: at))
            case .write(let bytes):
                do { try SerialPort.write(fd, bytes) }
                catch { unplugged("unplugged (\(error))", emit: emit, retry: false); return }
            case .trouble(let ports, let cause, let cleared):
                if let ports { emit(.portTrouble(ports: ports, cause: cause, cleared: cleared)) }
                else { emit(cleared ? .troubleCleared(cause) : .trouble(cause)) }
            case .rejected(let why):
                rejected += 1
                let now = clock.monotonicNow().nanoseconds
                if now - lastComplaint >= 1_000_000_000 {
                    lastComplaint = now
                    logger.warning("serial input rejected", metadata: ["device.name": "\(name)", "reason": "\(why)", "rejected.total": "\(rejected)"])
                }
            }
        }
    }
}

/// Waits for modem status line changes with TIOCMIWAIT on its own thread
/// (the ioctl blocks) and hands each change to the loop through a pipe, as
/// a record stamped with CLOCK_MONOTONIC when the ioctl returned.
public final class ModemLineWatcher: @unchecked Sendable {
    public enum Change: Equatable { case lines([Bool], at: MonotonicInstant), gone }

    private let pipeRead: Int32
    private let pipeWrite: Int32
    private let stopped = Locked(false)

    public var descriptor: Int32 { pipeRead }

    public init(fd: Int32, lines: [ModemLine], clock: any GatewayClock) throws(SystemError) {
        var fds: [Int32] = [0, 0]
        try syscall("pipe") { pipe(&fds) }
        pipeRead = fds[0]
        pipeWrite = fds[1]
        _ = fcntl(pipeRead, F_SETFL, fcntl(pipeRead, F_GETFL) | O_NONBLOCK)
        let w = pipeWrite, stopped = self.stopped
        let thread = Thread {
            while !stopped.value {
                let ok = ModemLine.waitForChange(fd, lines: lines)
                let now = clock.monotonicNow().nanoseconds
                var record = [UInt8](repeating: 0, count: 9)
                withUnsafeBytes(of: now.littleEndian) { record.replaceSubrange(0..<8, with: $0) }
                if ok {
                    var bits: UInt8 = 0
                    for (i, l) in lines.enumerated() where l.read(fd) == true { bits |= 1 << UInt8(i) }
                    record[8] = bits
                } else {
                    record[8] = 0xFF
                }
                _ = record.withUnsafeBytes { write(w, $0.baseAddress, 9) }
                if !ok { return }
            }
        }
        thread.name = "modem-lines"
        thread.start()
        self.lineCount = lines.count
    }

    private let lineCount: Int

    public func drain() -> [Change] {
        var out: [Change] = []
        var record = [UInt8](repeating: 0, count: 9)
        while record.withUnsafeMutableBytes({ read(pipeRead, $0.baseAddress, 9) }) == 9 {
            if record[8] == 0xFF { out.append(.gone); continue }
            let ns = record[0..<8].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
            out.append(.lines((0..<lineCount).map { record[8] & (1 << UInt8($0)) != 0 }, at: .init(nanoseconds: Int64(littleEndian: ns))))
        }
        return out
    }

    public func stop() {
        stopped.value = true
        close(pipeRead)
        close(pipeWrite)
    }
}
