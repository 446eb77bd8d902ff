import Logging
import PanicCore
import PanicPlatform
#if canImport(Glibc)
import Glibc
#endif

/// A simulated contact: edges arrive as text lines on a pipe or FIFO, each
/// `LEVEL [MONOTONIC_NS]` (`1` asserted, `0` released). A line without a
/// stamp is stamped when read. Stands in for hardware in the demo and tests,
/// through the same loop and debounce as a real line.
public final class PipeEdgeSource: InputSource {
    public private(set) var descriptor: Int32
    private let name: String
    private let clock: any GatewayClock
    private let logger: Logger
    private var pending: [UInt8] = []
    private var discarding = false
    /// Lines that were not `0`/`1` with an optional stamp.
    public private(set) var rejectedLines = 0
    private var lastComplaint: Int64 = 0

    /// Longest line accepted; longer input is discarded up to its newline.
    public static let maximumLine = 128

    /// - Parameter fd: a non-blocking read end; owned (closed) by the source.
    public init(name: String, fd: Int32, clock: any GatewayClock, logger: Logger) {
        self.name = name
        self.descriptor = fd
        self.clock = clock
        self.logger = logger
    }

    /// Opens (creating if needed) a FIFO read-write, so that writers coming
    /// and going never leave it in permanent hang-up.
    public static func openFIFO(at path: String) throws(SystemError) -> Int32 {
        if mkfifo(path, 0o660) != 0, errno != EEXIST {
            throw SystemError(call: "mkfifo", subject: path, errno: errno)
        }
        return try syscall("open", path) { open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC) }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Reads per readiness report; the loop is level-triggered, so a source
    /// with more to say is served again after the others had their turn.
    static let readsPerTurn = 4

    public func readReady(emit: (SourceEvent) -> Void) {
        guard descriptor >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<Self.readsPerTurn {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 4096) }
            if n <= 0 { break }
            for byte in buffer[0..<n] {
                if byte == UInt8(ascii: "\n") {
                    if !discarding { parse(pending, emit: emit) }
                    pending.removeAll(keepingCapacity: true)
                    discarding = false
                } else if !discarding {
                    pending.append(byte)
                    if pending.count > Self.maximumLine {
                        reject("line longer than \(Self.maximumLine) bytes")
                        discarding = true
                        pending.removeAll(keepingCapacity: true)
                    }
                }
            }
        }
    }

    public func hangup(emit: (SourceEvent) -> Void) {
        // A FIFO opened read-write never hangs up; a pipe whose writer left
        // has nothing more to say, and would report hang-up for ever: close it.
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        logger.info("simulated input closed: its writer went away", metadata: ["input.name": "\(name)"])
    }

    private func parse(_ line: [UInt8], emit: (SourceEvent) -> Void) {
        switch SimulatedInputLine.parse(line) {
        case .success(let parsed):
            emit(.level(asserted: parsed.asserted, at: parsed.stamp.map { .init(nanoseconds: $0) } ?? clock.monotonicNow()))
        case .failure(let problem):
            reject(problem.message)
        }
    }

    private func reject(_ why: String) {
        rejectedLines += 1
        let now = clock.monotonicNow().nanoseconds
        // At most one complaint a second per source: a flood must not flood the log.
        if now - lastComplaint >= 1_000_000_000 {
            lastComplaint = now
            logger.warning("simulated input line rejected", metadata: [
                "input.name": "\(name)", "reason": "\(why)", "rejected.total": "\(rejectedLines)",
            ])
        }
    }
}
