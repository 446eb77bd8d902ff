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

