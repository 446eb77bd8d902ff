#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PanicCore

/// How the previous run of the daemon ended, from a marker file in the state
/// directory: made (and synced, with its directory) when a run starts,
/// removed once a graceful shutdown has finished. Found at start, it means the
/// previous run never got that far: a crash, systemd's watchdog, `kill -9`,
/// a power cut. The receiver is told in the first heartbeats
/// (`Heartbeat.RestartNotice`), so the control room sees that a gateway restarted.
public struct RunMarker: Sendable {
    public let path: String
    /// `clean` when no marker was there (a graceful stop, or the first start).
    public let previousStop: String

    /// Looks for the marker left by the previous run, then writes this run's.
    /// A marker that cannot be written is logged by the caller and costs only
    /// the next start's report.
    public static func begin(stateDirectory: String, startedAt: WallTime) -> (RunMarker, writeError: String?) {
        let path = stateDirectory + "/running"
        let previous = access(path, F_OK) == 0 ? Heartbeat.RestartNotice.unclean : Heartbeat.RestartNotice.clean
        let marker = RunMarker(path: path, previousStop: previous)
        let text = Array("pid \(getpid()) started \(startedAt.rfc3339)\n".utf8)
        func failure() -> String { "cannot write \(path): \(String(cString: strerror(errno)))" }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return (marker, failure()) }
        defer { close(fd) }
        // The reason is taken where the call failed, before close() can change errno.
        let wrote = text.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        guard wrote == text.count else { return (marker, wrote < 0 ? failure() : "cannot write \(path): short write") }
        guard fsync(fd) == 0 else { return (marker, failure()) }
        syncDirectory(stateDirectory)
        return (marker, nil)
    }

    /// After a graceful shutdown: the next start reports a clean stop.
    public func end() {
        unlink(path)
        Self.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    private static func syncDirectory(_ dir: String) {
        let d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard d >= 0 else { return }
        _ = fsync(d)
        close(d)
    }
}
