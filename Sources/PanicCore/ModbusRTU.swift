/// Modbus RTU framing for function 0x02 (read discrete inputs).
public enum ModbusRTU {
    /// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), sent low byte first.
    public static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for b in bytes {
            crc ^= UInt16(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1 }
        }
        return crc
    }

    public static func readDiscreteInputs(slave: UInt8, start: UInt16, count: UInt16) -> [UInt8] {
        var frame: [UInt8] = [slave, 0x02, UInt8(start >> 8), UInt8(start & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF)]
        let crc = crc16(frame)
        frame += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        return frame
    }

    public enum Response: Sendable, Equatable {
        case bits([Bool])
        case exception(UInt8)
        /// Not all of the frame is here yet.
        case incomplete
        case invalid(String)
    }

    /// Parses a reply to `readDiscreteInputs(slave:start:count:)` at the head of `buffer`.
    public static func parseResponse(_ buffer: [UInt8], slave: UInt8, count: Int) -> Response {
        guard buffer.count >= 2 else { return .incomplete }
        guard buffer[0] == slave else { return .invalid("reply from slave \(buffer[0]), expected \(slave)") }
        switch buffer[1] {
        case 0x02:
            guard buffer.count >= 3 else { return .incomplete }
            let byteCount = Int(buffer[2])
            guard byteCount == (count + 7) / 8 else { return .invalid("byte count \(byteCount), expected \((count + 7) / 8)") }
            let total = 3 + byteCount + 2
            guard buffer.count >= total else { return .incomplete }
            guard checksumOK(buffer[0..<total]) else { return .invalid("CRC error") }
            let bits = (0..<count).map { i in buffer[3 + i / 8] & (1 << UInt8(i % 8)) != 0 }
            return .bits(bits)
        case 0x82:
            guard buffer.count >= 5 else { return .incomplete }
            guard checksumOK(buffer[0..<5]) else { return .invalid("CRC error") }
            return .exception(buffer[2])
        default:
            return .invalid("function code 0x\(String(buffer[1], radix: 16)), expected 0x02")
        }
    }

    static func checksumOK(_ frame: ArraySlice<UInt8>) -> Bool {
        let body = frame.dropLast(2)
        let crc = crc16(body)
        return frame[frame.endIndex - 2] == UInt8(crc & 0xFF) && frame[frame.endIndex - 1] == UInt8(crc >> 8)
    }
}

/// Polls discrete inputs of one or more slaves on one bus, one request at a
/// time, and turns bit changes into input levels. A slave that stops
/// answering for `failAfter` polls in a row is trouble for its inputs, and
/// restored when it answers again.
public struct ModbusDriver: SerialDriver {
    public struct Point: Sendable, Equatable {
        public var slave: UInt8
        public var address: UInt16
        public var port: Int
        public init(slave: UInt8, address: UInt16, port: Int) {
            self.slave = slave
            self.address = address
            self.port = port
        }
    }

    struct Poll: Sendable {
        var slave: UInt8
        var start: UInt16
        var count: Int
        var points: [Point]
    }

    private let polls: [Poll]
    public let pollInterval: Nanoseconds
    public let responseTimeout: Nanoseconds
    public let failAfter: Int
    private var index = 0
    private var awaiting: MonotonicInstant?
    private var nextCycle: MonotonicInstant?
    private var buffer: [UInt8] = []
    private var failures: [Int]
    private var troubled: [Bool]
    private var known: [Int: Bool] = [:]

    public init(points: [Point], pollInterval: Nanoseconds = .milliseconds(20), responseTimeout: Nanoseconds = .milliseconds(50), failAfter: Int = 3) {
        polls = Self.plan(points)
        self.pollInterval = pollInterval
        self.responseTimeout = responseTimeout
        self.failAfter = failAfter
        failures = Array(repeating: 0, count: polls.count)
        troubled = Array(repeating: false, count: polls.count)
    }

    /// Most discrete inputs one 0x02 request may ask for (the reply's byte
    /// count is one byte: 2000 inputs = 250 bytes).
    public static let maximumInputsPerRead = 2_000

    /// One read per slave and span of at most `maximumInputsPerRead`
    /// addresses: inputs 0 and 65535 of one slave are two small reads, not
    /// one that no device can answer.
    static func plan(_ points: [Point]) -> [Poll] {
        var bySlave: [UInt8: [Point]] = [:]
        for p in points { bySlave[p.slave, default: []].append(p) }
        var out: [Poll] = []
        for slave in bySlave.keys.sorted() {
            let pts = (bySlave[slave] ?? []).sorted { $0.address < $1.address }
            var group: [Point] = []
            func flush() {
                guard let lo = group.first?.address, let hi = group.last?.address else { return }
                out.append(Poll(slave: slave, start: lo, count: Int(hi) - Int(lo) + 1, points: group))
                group = []
            }
            for p in pts {
                if let lo = group.first?.address, Int(p.address) - Int(lo) >= maximumInputsPerRead { flush() }
                group.append(p)
            }
            flush()
        }
        return out
    }

    public var wakeAt: MonotonicInstant? { awaiting ?? nextCycle }

    public mutating func connected(now: MonotonicInstant) -> [DriverOutput] {
        index = 0
        known = [:]
        return send(now: now)
    }

    private mutating func send(now: MonotonicInstant) -> [DriverOutput] {
        guard !polls.isEmpty else { return [] }
        let p = polls[index]
        buffer.removeAll()
        awaiting = now + responseTimeout
        nextCycle = nil
        return [.write(ModbusRTU.readDiscreteInputs(slave: p.slave, start: p.start, count: UInt16(p.count)))]
    }

    /// Moves to the next slave, or schedules the next cycle.
    private mutating func advance(now: MonotonicInstant) -> [DriverOutput] {
        awaiting = nil
        index += 1
        if index < polls.count { return send(now: now) }
        index = 0
        nextCycle = now + pollInterval
        return []
    }

    public mutating func received(_ bytes: [UInt8], now: MonotonicInstant) -> [DriverOutput] {
        guard awaiting != nil else { return bytes.isEmpty ? [] : [.rejected("\(bytes.count) unexpected byte(s) between polls")] }
        buffer += bytes
        if buffer.count > 260 {
            buffer.removeAll()
            return [.rejected("reply longer than any Modbus RTU frame")]
        }
        let p = polls[index]
        if let first = buffer.first, first != p.slave {
            // A late answer to an earlier poll (a slow slave): not this slave's
            // failure; drop it and keep waiting for the right one.
            buffer.removeAll()
            return [.rejected("late reply from slave \(first) ignored while waiting for slave \(p.slave)")]
        }
        switch ModbusRTU.parseResponse(buffer, slave: p.slave, count: p.count) {
        case .incomplete:
            return []
        case .invalid(let why):
            buffer.removeAll()
            return [.rejected("slave \(p.slave): \(why)")] + failed(now: now, cause: why)
        case .exception(let code):
            return [.rejected("slave \(p.slave): exception \(code)")] + failed(now: now, cause: "exception code \(code)")
        case .bits(let bits):
            var out: [DriverOutput] = []
            if troubled[index] {
                troubled[index] = false
                out.append(.trouble(ports: p.points.map(\.port), cause: "Modbus slave \(p.slave) not answering", cleared: true))
            }
            failures[index] = 0
            for point in p.points {
                let bit = bits[Int(point.address - p.start)]
                if known[point.port] != bit {
                    known[point.port] = bit
                    out.append(.level(port: point.port, asserted: bit, at: now))
                }
            }
            return out + advance(now: now)
        }
    }

    private mutating func failed(now: MonotonicInstant, cause: String) -> [DriverOutput] {
        failures[index] += 1
        var out: [DriverOutput] = []
        let p = polls[index]
        if failures[index] >= failAfter && !troubled[index] {
            troubled[index] = true
            out.append(.trouble(ports: p.points.map(\.port), cause: "Modbus slave \(p.slave) not answering (\(cause), \(failures[index]) polls in a row)", cleared: false))
        }
        return out + advance(now: now)
    }

    public mutating func tick(now: MonotonicInstant) -> [DriverOutput] {
        if let deadline = awaiting, now >= deadline { return failed(now: now, cause: "timeout") }
        if let cycle = nextCycle, now >= cycle { return send(now: now) }
        return []
    }

    public mutating func disconnected() {
        awaiting = nil
        nextCycle = nil
        buffer.removeAll()
    }
}
