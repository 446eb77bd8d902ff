import PanicCore

/// `modbus`: the Modbus RTU poller fed arbitrary replies and time.
///
/// Input: byte 0 picks how many points (1–6); then 3 bytes per point: slave
/// (1–247, as the configuration allows) and input address (big-endian,
/// 0–65535, as the configuration allows). The rest is a script, one op byte
/// at a time:
///   0x00–0x7F  the next (op % 32 + 1) bytes arrive from the bus as they are
///   0x80–0xBF  time passes by (op & 0x3F) × 5 ms, then tick
///   0xC0–0xDF  a well-formed reply (right slave, byte count and CRC) to the
///              last request arrives, its data bytes taken from the script
///   0xE0–0xEF  a well-formed exception reply, code from the next byte
///   0xF0–0xFE  a reply with the right header and a CRC over script bytes, cut at op & 0x0F bytes
///   0xFF       the port is unplugged and plugged in again
enum ModbusHarness {
    static func run(_ data: [UInt8]) {
        guard data.count >= 4 else { return }
        var r = Reader(data)
        let n = Int(r.byte()! % 6) + 1
        var points: [ModbusDriver.Point] = []
        for port in 0..<n {
            guard let s = r.byte(), let hi = r.byte(), let lo = r.byte() else { break }
            points.append(.init(slave: UInt8(Int(s) % 247 + 1), address: UInt16(hi) << 8 | UInt16(lo), port: port))
        }
        guard !points.isEmpty else { return }
        var driver = ModbusDriver(points: points, pollInterval: .milliseconds(20), responseTimeout: .milliseconds(50), failAfter: 3)
        var now = MonotonicInstant(nanoseconds: 1_000_000_000)
        var lastRequest: [UInt8] = []

        func take(_ out: [DriverOutput]) {
            for o in out {
                switch o {
                case .write(let frame):
                    require(frame.count == 8, "request of \(frame.count) bytes")
                    require(ModbusRTU.crc16(frame.prefix(6)) == UInt16(frame[6]) | UInt16(frame[7]) << 8, "request CRC")
                    lastRequest = frame
                case .level(let port, _, _):
                    require((0..<points.count).contains(port), "level for port \(port) of \(points.count)")
                case .trouble(let ports, _, _):
                    for p in ports ?? [] { require((0..<points.count).contains(p), "trouble for port \(p)") }
                case .rejected:
                    break
                }
            }
        }

        take(driver.connected(now: now))
        var steps = 0
        while let op = r.byte(), steps < 512 {
            steps += 1
            switch op {
            case 0x00...0x7F:
                take(driver.received(r.bytes(Int(op % 32) + 1), now: now))
            case 0x80...0xBF:
                now = now + .milliseconds(Int64(op & 0x3F) * 5)
                take(driver.tick(now: now))
                if let w = driver.wakeAt { require(w > now, "wakeAt \(w) not after \(now) after a tick") }
            case 0xC0...0xDF where lastRequest.count == 8:
                let count = Int(lastRequest[4]) << 8 | Int(lastRequest[5])
                let byteCount = (count + 7) / 8
                var frame = [lastRequest[0], 0x02, UInt8(truncatingIfNeeded: byteCount)] + r.bytes(byteCount, padding: 0)
                let crc = ModbusRTU.crc16(frame)
                frame += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
                take(driver.received(frame, now: now))
            case 0xE0...0xEF where lastRequest.count == 8:
                var frame = [lastRequest[0], 0x82, r.byte() ?? 1]
                let crc = ModbusRTU.crc16(frame)
                frame += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
                take(driver.received(frame, now: now))
            case 0xF0...0xFE where lastRequest.count == 8:
                var frame = [lastRequest[0], 0x02] + r.bytes(Int(op & 0x0F))
                let crc = ModbusRTU.crc16(frame)
                frame += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
                take(driver.received(frame, now: now))
            case 0xFF:
                driver.disconnected()
                take(driver.connected(now: now))
            default:
                take(driver.received([op], now: now))
            }
        }

        // The frame parser on its own, with the script as a reply.
        let rest = Array(data.dropFirst(1 + 3 * n))
        for p in points {
            for count in [1, 8, 9, Int(p.address % 2048) + 1] {
                switch ModbusRTU.parseResponse(rest, slave: p.slave, count: count) {
                case .bits(let bits): require(bits.count == count, "\(bits.count) bits for a count of \(count)")
                default: break
                }
            }
        }
    }
}

/// Takes bytes off the front of an input.
struct Reader {
    private let data: [UInt8]
    private var i = 0
    init(_ data: [UInt8]) { self.data = data }
    var remaining: Int { data.count - i }
    mutating func byte() -> UInt8? {
        guard i < data.count else { return nil }
        defer { i += 1 }
        return data[i]
    }
    /// Up to `n` bytes (fewer at the end), or exactly `n` with `padding`.
    mutating func bytes(_ n: Int, padding: UInt8? = nil) -> [UInt8] {
        let k = min(n, remaining)
        var out = Array(data[i..<i + k])
        i += k
        if let padding, out.count < n { out += [UInt8](repeating: padding, count: n - out.count) }
        return out
    }
}
