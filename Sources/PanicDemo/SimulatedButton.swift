import Foundation
import PanicCore
import PanicInputs
import PanicPlatform

/// A push button at the end of a pipe: writes edges, with bounce, stamped
/// with CLOCK_MONOTONIC at the moment each edge "happens", the way the
/// kernel stamps a GPIO edge.
public final class SimulatedButton: @unchecked Sendable {
    public let name: String
    /// The read end, for the gateway's `PipeEdgeSource`.
    public let readFD: Int32
    private let writeFD: Int32
    private let clock = SystemClock()
    /// Whether the line is asserted when the button rests (normally closed).
    private let restsAsserted: Bool

    public init(name: String, normallyClosed: Bool = false) throws {
        self.name = name
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError(call: "pipe", errno: errno) }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        readFD = fds[0]
        writeFD = fds[1]
        restsAsserted = normallyClosed
    }

    deinit { close(writeFD) }

    /// Presses with a bounce train: the contact chatters at the given gaps
    /// (ms) before settling. Returns the stamp of the first edge.
    @discardableResult
    public func press(bounceGapsMs: [Double] = [0.3, 0.5, 0.8, 0.4]) -> MonotonicInstant {
        train(to: !restsAsserted, gaps: bounceGapsMs)
    }

    /// Releases, bouncing likewise.
    @discardableResult
    public func release(bounceGapsMs: [Double] = [0.4, 0.6]) -> MonotonicInstant {
        train(to: restsAsserted, gaps: bounceGapsMs)
    }

    /// An even number of gaps keeps the final level at `level`.
    private func train(to level: Bool, gaps: [Double]) -> MonotonicInstant {
        let first = edge(level)
        var current = level
        var gapList = gaps
        if gapList.count % 2 == 1 { gapList.removeLast() }
        for g in gapList {
            Thread.sleep(forTimeInterval: g / 1000)
            current.toggle()
            edge(current)
        }
        return first
    }

    @discardableResult
    private func edge(_ asserted: Bool) -> MonotonicInstant {
        let now = clock.monotonicNow()
        let line = "\(asserted ? 1 : 0) \(now.nanoseconds)\n"
        _ = line.withCString { write(writeFD, $0, strlen($0)) }
        return now
    }
}
