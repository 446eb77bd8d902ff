/// What a serial protocol driver asks of its device, or reports.
public enum DriverOutput: Sendable, Equatable {
    /// Input `port` of this device changed.
    case level(port: Int, asserted: Bool, at: MonotonicInstant)
    /// Bytes to write to the device (a Modbus request).
    case write([UInt8])
    /// Trouble on some ports (nil: the whole device), or its end.
    case trouble(ports: [Int]?, cause: String, cleared: Bool)
    /// Bad input, counted and logged at a limited rate; never an alarm.
    case rejected(String)
}

/// A serial protocol: a pure state machine fed with bytes and time. The
/// source around it does the I/O; tests drive it with recorded sessions.
public protocol SerialDriver: Sendable {
    /// The port is open (again).
    mutating func connected(now: MonotonicInstant) -> [DriverOutput]
    /// Bytes arrived, stamped when read.
    mutating func received(_ bytes: [UInt8], now: MonotonicInstant) -> [DriverOutput]
    /// Time passed to `now` (called at or after `wakeAt`).
    mutating func tick(now: MonotonicInstant) -> [DriverOutput]
    /// When `tick` must next be called.
    var wakeAt: MonotonicInstant? { get }
    /// The port closed (unplugged).
    mutating func disconnected()
}
