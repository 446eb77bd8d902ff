import CPanicSys
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, on what, and errno, with a hint at what
/// to do where there is an obvious one.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public var call: String
    public var subject: String?
    public var errno: Int32

    public init(call: String, subject: String? = nil, errno: Int32) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        let what = subject.map { " on \($0)" } ?? ""
        let text = String(cString: strerror(errno))
        var hint = ""
        switch errno {
        case EACCES, EPERM: hint = " (permission denied: check the owner, group and mode of the file, and that the daemon's user is in that group)"
        case ENOENT: hint = " (no such file or device)"
        case EBUSY: hint = " (in use by another process)"
        default: break
        }
        return "\(call)\(what) failed: \(text) [errno \(errno)]\(hint)"
    }
}

/// Runs a system call, retrying on EINTR, turning -1 into `SystemError`.
@discardableResult
@inline(__always)
public func syscall<T: BinaryInteger>(_ name: String, _ subject: String? = nil, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = cpanic_errno()
        if e == EINTR { continue }
        throw SystemError(call: name, subject: subject, errno: e)
    }
}
