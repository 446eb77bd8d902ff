import CPanicSys

/// Names the calling thread for the kernel (`/proc/PID/task/TID/comm`, `top -H`,
/// `ps -L`, a core dump), at most 15 bytes (longer names are cut). Foundation's
/// `Thread.name` on Linux does not reach the kernel when set before `start()`,
/// so each long-lived thread calls this first thing. Best effort: a failure
/// changes nothing but the name.
public func nameCurrentThread(_ name: String) {
    var bytes = Array(name.utf8.prefix(15)).map { CChar(bitPattern: $0) }
    bytes.append(0)
    _ = cpanic_set_thread_name(bytes)
}

/// The calling thread's kernel name (for tests and diagnostics).
public func currentThreadName() -> String {
    var buf = [CChar](repeating: 0, count: 16)
    guard cpanic_get_thread_name(&buf) == 0 else { return "" }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
