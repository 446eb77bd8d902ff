import CPanicSys
import PanicCore
#if canImport(Glibc)
import Glibc
#endif

/// Opening and configuring a serial port the way the gateway needs it: raw,
/// exclusive, non-blocking, low latency, kept open.
public enum SerialPort {
    /// Opens `path` O_RDWR|O_NOCTTY|O_NONBLOCK, takes it exclusively
    /// (TIOCEXCL), sets raw mode with the given line settings, VMIN=1
    /// VTIME=0, and asks for low latency (ASYNC_LOW_LATENCY; ftdi_sio then
    /// uses a 1 ms latency timer instead of 16 ms). Returns the fd.
    public static func open(_ path: String, settings: SerialSettings) throws(SystemError) -> Int32 {
        let fd = try syscall("open", path) { Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) }
        do {
            try syscall("ioctl(TIOCEXCL)", path) { cpanic_serial_exclusive(fd) }
            let parity: CChar = switch settings.parity {
            case .none: CChar(UInt8(ascii: "N"))
            case .even: CChar(UInt8(ascii: "E"))
            case .odd: CChar(UInt8(ascii: "O"))
            }
            try syscall("tcsetattr", path) { cpanic_serial_configure(fd, Int32(settings.baud), Int32(settings.dataBits), parity, Int32(settings.stopBits)) }
        } catch {
            close(fd)
            throw error
        }
        _ = cpanic_serial_low_latency(fd)  // a pty has no serial_struct; harmless
        return fd
    }

    /// Raises DTR and RTS, so a contact between DTR and CTS/DSR/DCD/RI reads closed.
    public static func raiseDTR(_ fd: Int32) {
        _ = cpanic_tiocmbis(fd, CPANIC_TIOCM_DTR | CPANIC_TIOCM_RTS)
    }

    /// Writes all of `bytes` or fails; the port is non-blocking, so a full
    /// output buffer is an error rather than a stall.
    public static func write(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(call: "write", subject: "serial port", errno: errno)
            }
            offset += n
        }
    }
}

/// The modem status lines a contact can be wired to.
public enum ModemLine: String, Sendable, CaseIterable {
    case cts, dsr, dcd, ri

    var mask: Int32 {
        switch self {
        case .cts: CPANIC_TIOCM_CTS
        case .dsr: CPANIC_TIOCM_DSR
        case .dcd: CPANIC_TIOCM_CD
        case .ri: CPANIC_TIOCM_RI
        }
    }

    /// Reads the line now; nil if the port is gone.
    public func read(_ fd: Int32) -> Bool? {
        let bits = cpanic_tiocmget(fd)
        return bits < 0 ? nil : bits & mask != 0
    }

    /// Blocks until one of `lines` changes (TIOCMIWAIT); false if the port failed.
    public static func waitForChange(_ fd: Int32, lines: [ModemLine]) -> Bool {
        let mask = lines.reduce(Int32(0)) { $0 | $1.mask }
        while true {
            if cpanic_tiocmiwait(fd, mask) == 0 { return true }
            if errno != EINTR { return false }
        }
    }
}

/// A pseudo-terminal pair, for tests and simulated devices.
public struct PseudoTerminal: Sendable {
    public let master: Int32
    public let slave: Int32
    public let path: String

    public static func open() throws(SystemError) -> PseudoTerminal {
        var m: Int32 = -1, s: Int32 = -1
        var name = [CChar](repeating: 0, count: 128)
        try syscall("openpty") { cpanic_openpty(&m, &s, &name, 128) }
        return PseudoTerminal(master: m, slave: s, path: String(cString: name))
    }
}
