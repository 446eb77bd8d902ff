import PanicCore

/// `line-protocol`: the serial line-protocol driver fed arbitrary bytes.
///
/// Each input runs through drivers with the default and with unusual (but
/// valid) patterns; with the default ones it is also fed in uneven chunks,
/// and the outputs must not depend on how the bytes were chunked. Heartbeat supervision is ticked and
/// must leave `wakeAt` in the future or nil, as the driver promises. If the
/// input's first line is a valid press pattern, `match` is also run with it
/// against every later line.
enum LineProtocolHarness {
    static let ports = ["1": 0, "2": 1, "lobby-panic": 2, "A_b-9": 3]
    static let patternSets: [LineProtocolDriver.Patterns] = [
        .init(),
        .init(press: "<{id}>", release: "</{id}>", heartbeat: "♥ alive"),
        .init(press: "{id}+", release: "{id}-", heartbeat: "HB"),
    ]

    static func run(_ data: [UInt8]) {
        let t0 = MonotonicInstant(nanoseconds: 5_000_000_000)
        for (n, patterns) in patternSets.enumerated() {
            var whole = LineProtocolDriver(patterns: patterns, ports: ports, heartbeatTimeout: .seconds(2))
            _ = whole.connected(now: t0)
            let a = whole.received(data, now: t0)
            for out in a {
                if case .level(let port, _, _) = out { require(ports.values.contains(port), "level for unknown port \(port)") }
            }
            if n == 0 {
                // Fed in uneven chunks, the same bytes must mean the same.
                var pieces = LineProtocolDriver(patterns: patterns, ports: ports, heartbeatTimeout: .seconds(2))
                _ = pieces.connected(now: t0)
                var b: [DriverOutput] = []
                var i = 0, step = 1
                while i < data.count {
                    let j = min(data.count, i + step)
                    b += pieces.received(Array(data[i..<j]), now: t0)
                    i = j
                    step = step % 13 + 1
                }
                require(a == b, "outputs depend on chunking: \(a) vs \(b)")
            }
            var now = t0
            for advance in [Nanoseconds.milliseconds(1), .seconds(3), .seconds(3)] {
                now = now + advance
                _ = whole.tick(now: now)
                if let w = whole.wakeAt { require(w > now, "wakeAt \(w) not after now \(now)") }
            }
            _ = whole.received(Array(data.suffix(64)), now: now)
            whole.disconnected()
            _ = whole.connected(now: now)
        }

        var framer = LineFramer(maximum: 16)
        var framed: [LineFramer.Piece] = []
        for b in data { framed += framer.feed([b]) }
        var again = LineFramer(maximum: 16)
        require(framed == again.feed(data), "LineFramer depends on chunking")
        for piece in framed {
            if case .line(let l) = piece { require(l.count <= 16, "line of \(l.count) bytes over the maximum") }
        }

        // A fuzzed pattern, when it is one the configuration would accept.
        let lines = data.fields(0x0A, limit: 64)
        if lines.count > 1, let pattern = String(validating: lines[0], as: UTF8.self),
           LineProtocolDriver.Patterns.problem(pattern, needsID: true) == nil {
            let patterns = LineProtocolDriver.Patterns(press: pattern, release: pattern + " R", heartbeat: "HB")
            for raw in lines.dropFirst() {
                let text = String(decoding: raw, as: UTF8.self)
                if let id = LineProtocolDriver.match(text, pattern) {
                    require(!id.isEmpty, "empty id matched")
                }
                _ = LineProtocolDriver.parse(text, patterns: patterns)
            }
        }
    }
}
