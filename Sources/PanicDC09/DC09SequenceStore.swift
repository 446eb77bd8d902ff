import Foundation
import PanicCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One destination's DC-09 sequence numbers (1...9999, wrapping), kept in a
/// small text file next to the outbox (`dc09-NAME.seq`) so that numbers go
/// on across restarts and an alert retransmitted after a restart reuses the
/// number it was first sent with. The file is replaced atomically (write,
/// fsync, rename, fsync of the directory) at every new number.
///
/// ```
/// last 42
/// alert 17 40
/// alert 18 41
/// ```
public final class DC09SequenceStore: @unchecked Sendable {
    public let path: String
    /// Numbers remembered for unacknowledged alerts at most; the oldest go first.
    public static let maximumRemembered = 1000
    private let lock = Mutex()
    private var last = 0
    /// Outbox sequence → DC-09 number, in assignment order.
    private var assigned: [(alert: Int64, number: Int)] = []
    private var dirty = false
    /// What went wrong reading the file at start, if anything (then numbering restarts at 1).
    public private(set) var loadProblem: String?
    private var lastWriteProblem: String?
    /// The last write failure, if the last write failed.
    public var writeProblem: String? { lock.withLock { lastWriteProblem } }

    public init(path: String) {
        self.path = path
        load()
    }

    /// The last number handed out (0 before the first).
    public var lastNumber: Int { lock.withLock { last } }

    /// The number of the alert with outbox sequence `alert`: the one it was
    /// sent with before, or a new one.
    public func number(forAlert alert: Int64) -> Int {
        let (n, isNew) = lock.withLock { () -> (Int, Bool) in
            if let a = assigned.first(where: { $0.alert == alert }) { return (a.number, false) }
            let n = advance()
            assigned.append((alert, n))
            if assigned.count > Self.maximumRemembered { assigned.removeFirst(assigned.count - Self.maximumRemembered) }
            return (n, true)
        }
        if isNew || dirty { persist() }
        return n
    }

    /// A new number for a frame that is no alert (supervision, generated events).
    public func fresh() -> Int {
        let n = lock.withLock { advance() }
        persist()
        return n
    }

    /// The alert was acknowledged: its number is no longer needed.
    public func release(alert: Int64) {
        let known = lock.withLock {
            let before = assigned.count
            assigned.removeAll { $0.alert == alert }
            return assigned.count != before
        }
        if known { persist() }
    }

    private func advance() -> Int {
        last = last >= DC09.sequenceRange.upperBound ? DC09.sequenceRange.lowerBound : last + 1
        return last
    }

    private func load() {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) { loadProblem = "cannot read \(path); numbering restarts at 1" }
            return
        }
        let text = String(decoding: data, as: UTF8.self)
        var lastSeen: Int?
        for (i, line) in text.split(separator: "\n").enumerated() {
            let f = line.split(separator: " ")
            if f.count == 2, f[0] == "last", let n = Int(f[1]), (0...9999).contains(n) {
                lastSeen = n
            } else if f.count == 3, f[0] == "alert", let a = Int64(f[1]), let n = Int(f[2]), DC09.sequenceRange.contains(n) {
                assigned.append((a, n))
            } else {
                loadProblem = "\(path):\(i + 1): unreadable line \"\(line.prefix(60))\"; the rest was ignored"
                break
            }
        }
        if let lastSeen { last = lastSeen } else if loadProblem == nil { loadProblem = "\(path): no \"last\" line; numbering restarts at 1" }
    }

    private func persist() {
        let text: String = lock.withLock {
            dirty = false
            return "last \(last)\n" + assigned.map { "alert \($0.alert) \($0.number)\n" }.joined()
        }
        do {
            try Self.writeAtomically(text, to: path)
            lock.withLock { lastWriteProblem = nil }
        } catch {
            lock.withLock { lastWriteProblem = "\(error)"; dirty = true }
        }
    }

    struct WriteError: Error, CustomStringConvertible {
        var call: String
        var path: String
        var errno: Int32
        var description: String { "\(call) \(path) failed: \(String(cString: strerror(errno))) [errno \(errno)]; check that the state directory is writable" }
    }

    static func writeAtomically(_ text: String, to path: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(call: "open", path: tmp, errno: errno) }
        var ok = true
        var failure = WriteError(call: "write", path: tmp, errno: 0)
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                ok = false; failure.errno = errno; break
            }
            off += n
        }
        if ok, fsync(fd) != 0 { ok = false; failure = WriteError(call: "fsync", path: tmp, errno: errno) }
        close(fd)
        guard ok else { throw failure }
        guard rename(tmp, path) == 0 else { throw WriteError(call: "rename", path: tmp, errno: errno) }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}
