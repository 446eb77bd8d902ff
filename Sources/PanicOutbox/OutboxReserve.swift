import Foundation

/// Space kept for alarms on the outbox's filesystem: a file of zeros beside
/// the database, written out (not sparse) so its blocks are really taken.
/// When a commit fails because the disk is full the outbox deletes it and
/// commits again, so the first alarms after something else filled the disk
/// are still stored; it is made again once there is room for it twice over.
struct OutboxReserve {
    let path: String
    let bytes: Int

    /// Whether the file is there, whole.
    var isInPlace: Bool {
        guard bytes > 0 else { return true }
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber
        return size?.intValue == bytes
    }

    /// Makes the file when it is missing and the filesystem has room for it
    /// and as much again. Returns whether it is in place afterwards.
    @discardableResult
    func restore() -> Bool {
        if isInPlace { return true }
        let directory = (path as NSString).deletingLastPathComponent
        let free = (try? FileManager.default.attributesOfFileSystem(forPath: directory.isEmpty ? "." : directory))?[.systemFreeSize] as? NSNumber
        guard let free, free.int64Value >= 2 * Int64(bytes) else { return false }
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil),
              let handle = FileHandle(forWritingAtPath: partial) else { return false }
        let chunk = Data(count: min(bytes, 1 << 20))
        var written = 0
        var ok = true
        while written < bytes {
            let n = min(chunk.count, bytes - written)
            do { try handle.write(contentsOf: n == chunk.count ? chunk : chunk.prefix(n)) } catch { ok = false; break }
            written += n
        }
        if ok { ok = (try? handle.synchronize()) != nil }
        try? handle.close()
        guard ok, rename(partial, path) == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            return false
        }
        return true
    }

    /// Deletes the file, giving its space to the database. Returns whether
    /// there was one to give.
    func release() -> Bool {
        guard bytes > 0, FileManager.default.fileExists(atPath: path) else { return false }
        return (try? FileManager.default.removeItem(atPath: path)) != nil
    }
}
