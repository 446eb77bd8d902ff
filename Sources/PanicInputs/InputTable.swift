import PanicCore

/// The inputs by index, shared by the loop, the outbox writer and the
/// control socket. Indices never change: a reload replaces a spec in place,
/// appends new inputs and retires removed ones, so an event queued just
/// before a reload still names the right input.
public final class InputTable: @unchecked Sendable {
    private let lock = Mutex()
    private var specs: [InputSpec]
    private var retired: Set<Int> = []

    public init(_ specs: [InputSpec]) { self.specs = specs }

    public subscript(_ i: Int) -> InputSpec { lock.withLock { specs[i] } }

    public var all: [InputSpec] { lock.withLock { specs } }

    public var count: Int { lock.withLock { specs.count } }

    /// Indices of inputs still configured.
    public var active: [Int] { lock.withLock { specs.indices.filter { !retired.contains($0) } } }

    public func index(named name: String) -> Int? {
        lock.withLock { specs.indices.first { specs[$0].name == name && !retired.contains($0) } }
    }

    /// The index each of `new` would get from `apply`, without changing
    /// anything: a reload wires its devices against these first, and applies
    /// the table only once the wiring has succeeded.
    public func plan(_ new: [InputSpec]) -> [Int] {
        lock.withLock {
            var appended = 0
            return new.map { spec in
                if let i = specs.indices.first(where: { specs[$0].name == spec.name }) { return i }
                appended += 1
                return specs.count + appended - 1
            }
        }
    }

    /// Applies a new list of inputs; returns the index of each, in order.
    @discardableResult
    public func apply(_ new: [InputSpec]) -> [Int] {
        lock.withLock {
            var indices: [Int] = []
            var kept = Set<Int>()
            for spec in new {
                if let i = specs.indices.first(where: { specs[$0].name == spec.name }) {
                    specs[i] = spec
                    retired.remove(i)
                    indices.append(i)
                    kept.insert(i)
                } else {
                    specs.append(spec)
                    indices.append(specs.count - 1)
                    kept.insert(specs.count - 1)
                }
            }
            for i in specs.indices where !kept.contains(i) { retired.insert(i) }
            return indices
        }
    }
}
