#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The project's three ways for threads and tasks to share state, and the only
// ones it uses (the receiver's NIO handlers included):
//
// - `Mutex`: mutual exclusion, for a few fields read and written briefly;
// - `Locked<Value>`: a value behind a `Mutex`;
// - `Monitor<State>`: a value behind a mutex with a condition, for a thread
//   that waits until the state says there is work (a queue, a flag, a
//   delivery to await) — with a timeout on the monotonic clock;
// - and, for async tasks, `Wakeup` (a coalescing signal with a timeout),
//   which never blocks a thread of the cooperative pool.

/// A pthread mutex. Not recursive; hold it briefly and never across a wait.
public final class Mutex: @unchecked Sendable {
    fileprivate var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

/// A value behind a `Mutex`, for the few places state crosses threads.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = Mutex()
    private var stored: Value
    public init(_ value: Value) { stored = value }
    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    public func mutate<T>(_ body: (inout Value) throws -> T) rethrows -> T { try lock.withLock { try body(&stored) } }
}

/// A value behind a mutex with a condition: `update` changes it and wakes
/// every waiter; `wait` blocks the calling thread until a predicate on it
/// holds or a timeout passes. For dedicated threads (the outbox writer, the
/// DC-09 socket thread, control clients), never for async code.
public final class Monitor<State>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var state: State

    public init(_ state: State) {
        self.state = state
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Changes the state and wakes every waiter.
    @discardableResult
    public func update<T>(_ body: (inout State) -> T) -> T {
        pthread_mutex_lock(&mutex)
        let r = body(&state)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        return r
    }

    /// Reads the state without waking anyone.
    public func read<T>(_ body: (State) -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body(state)
    }

    /// Waits until `ready` holds, then runs `body` on the state (still
    /// locked). With a `timeout`, gives up after it and runs `body` anyway;
    /// `ready` says which it was. Wakes the other waiters if `body` changed
    /// anything they wait for (it always broadcasts).
    public func wait<T>(until ready: (State) -> Bool, timeout: Nanoseconds? = nil, then body: (inout State, _ ready: Bool) -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer {
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
        if let timeout {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let deadlineNs = (Int64(now.tv_sec).saturatingMultiply(1_000_000_000)).saturatingAdd(Int64(now.tv_nsec)).saturatingAdd(max(0, timeout.value))
            var deadline = timespec(tv_sec: Int(deadlineNs / 1_000_000_000), tv_nsec: Int(deadlineNs % 1_000_000_000))
            while !ready(state) {
                if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { return body(&state, ready(state)) }
            }
        } else {
            while !ready(state) { pthread_cond_wait(&condition, &mutex) }
        }
        return body(&state, true)
    }
}
