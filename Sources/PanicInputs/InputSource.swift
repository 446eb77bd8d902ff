import PanicCore

/// What a source tells the input loop.
public enum SourceEvent: Sendable, Equatable {
    /// The line changed; `asserted` is its level after the edge (active-low
    /// already applied), `at` the source's own monotonic stamp.
    case level(asserted: Bool, at: MonotonicInstant)
    /// Input `port` of a device with several inputs changed.
    case portLevel(port: Int, asserted: Bool, at: MonotonicInstant)
    /// The device is in trouble (gone, silent, refusing): all its inputs.
    case trouble(String)
    /// The trouble reported earlier is over.
    case troubleCleared(String)
    /// Trouble, or its end, on some of a device's inputs (one Modbus slave).
    case portTrouble(ports: [Int], cause: String, cleared: Bool)
}

/// One input's hardware, as the loop sees it: a descriptor to watch and a
/// way to read what became ready. Called only on the loop's thread. The
/// descriptor may change (a device unplugged and back): the loop re-reads it
/// after every call and re-registers.
public protocol InputSource: AnyObject {
    /// What to watch, or -1 while the device is absent.
    var descriptor: Int32 { get }
    /// Opens the device when the loop starts; reports its level (a button
    /// held at start) or its trouble.
    func start(emit: (SourceEvent) -> Void)
    /// Reads what is pending without blocking (a bounded amount per turn).
    func readReady(emit: (SourceEvent) -> Void)
    /// The descriptor reported hang-up or error.
    func hangup(emit: (SourceEvent) -> Void)
    /// When the source wants `wake` called (a retry, a silence timeout).
    var wakeAt: MonotonicInstant? { get }
    func wake(now: MonotonicInstant, emit: (SourceEvent) -> Void)
}

extension InputSource {
    public func start(emit: (SourceEvent) -> Void) {}
    public var wakeAt: MonotonicInstant? { nil }
    public func wake(now: MonotonicInstant, emit: (SourceEvent) -> Void) {}
}
