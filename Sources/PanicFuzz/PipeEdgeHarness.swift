import PanicCore
import PanicInputs
#if canImport(Glibc)
import Glibc
#endif

/// `pipe-edge`: the simulated input's FIFO lines (`LEVEL [MONOTONIC_NS]`).
///
/// The line parser of PipeEdgeSource is private, so the harness goes in the
/// front door: the input is written to a pipe, PipeEdgeSource reads it as
/// the input loop would (readReady until drained, then hang-up), and the
/// levels it emits go through a debouncer in each mode, stamps as given —
/// out of order, huge, whatever the line said. What it emits must be what
/// the pure parser (SimulatedInputLine.parse) accepts, line by line.
enum PipeEdgeHarness {
    static let clock = ManualClock()
    static let modes: [DebounceSettings] = [
        .init(mode: .immediate, window: .milliseconds(20)),
        .init(mode: .stable, window: .milliseconds(20)),
        .init(mode: .hold, window: .milliseconds(20), hold: .milliseconds(500)),
    ]

    static func run(_ data: [UInt8]) {
        let input = data.prefix(60_000)  // a pipe holds 64 KiB; the write must not block
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { fatalError("pipe: \(errno)") }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        let written = input.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        require(written == input.count, "short write to the pipe")

        let source = PipeEdgeSource(name: "fuzz", fd: fds[0], clock: clock, logger: Fixed.logger)
        var events: [SourceEvent] = []
        for _ in 0...(input.count / (4 * 4096) + 1) { source.readReady { events.append($0) } }
        source.hangup { events.append($0) }
        require(source.descriptor == -1, "descriptor left open after hang-up")

        // The source must emit exactly what the pure line parser accepts: one
        // level per newline-terminated line of at most maximumLine bytes that
        // SimulatedInputLine.parse takes, stamped as the line says (or now).
        var expected: [SourceEvent] = []
        let lines = Array(input).fields(0x0A, limit: Int.max).dropLast()  // the last piece has no newline
        for line in lines where line.count <= PipeEdgeSource.maximumLine {
            switch SimulatedInputLine.parse(line) {
            case .success(let (asserted, stamp)):
                require(stamp.map(SimulatedInputLine.acceptedStamps.contains) ?? true, "stamp \(stamp!) outside the accepted range")
                expected.append(.level(asserted: asserted, at: stamp.map { MonotonicInstant(nanoseconds: $0) } ?? clock.monotonicNow()))
            case .failure:
                break
            }
        }
        let emitted = events.filter { if case .level = $0 { true } else { false } }
        require(emitted == expected, "PipeEdgeSource emitted \(emitted.count) levels, the line parser accepts \(expected.count)")

        for settings in modes {
            var d = Debouncer(settings: settings)
            for e in events {
                guard case .level(let asserted, let at) = e else { continue }
                _ = d.edge(pressed: asserted, at: at)
                _ = d.advance(to: at)  // the loop woke at the edge's time
            }
            if let due = d.nextDeadline { _ = d.advance(to: due) }
            require(d.nextDeadline == nil, "a deadline left after settling at it")
        }
    }
}
