/// A value behind a lock, for the few places state crosses threads.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = SpinLock()
    private var stored: Value
    public init(_ value: Value) { stored = value }
    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    public func mutate<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&stored) } }
}
