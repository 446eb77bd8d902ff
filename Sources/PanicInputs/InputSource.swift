import PanicCore

/// What a source tells the input loop.
public enum SourceEvent: Sendable, Equatable {
    /// The line changed; `asserted` is its level after the edge (active-low
    /// already applied), `at` the source's own monotonic stamp.
    case level(asserted: Bool, at: MonotonicInstant)
    /// The device is in trouble (gone, silent, refusing).
    case trouble(String)
    /// The trouble reported earlier is over.
    case troubleCleared(String)
}

/// One input's hardware, as the loop sees it: a descriptor to watch and a
/// way to read what became ready. Called only on the loop's thread.
public protocol InputSource: AnyObject {
    /// What to watch, or -1 while the device is absent.
    var descriptor: Int32 { get }
    /// Reads everything pending without blocking.
    func readReady(emit: (SourceEvent) -> Void)
    /// The descriptor reported hang-up or error.
    func hangup(emit: (SourceEvent) -> Void)
}
