import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a key file was refused, and what to do.
public enum KeyFileError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case readableByOthers(path: String, mode: String)
    case unreadable(path: String, reason: String)
    case malformed(String)
    case exists(String)

    public var description: String {
        switch self {
        case .missing(let p): "key file \(p) does not exist; create it with `panic-gateway keygen --out \(p)`"
        case .readableByOthers(let p, let m): "key file \(p) has mode \(m): group or others may read it. Run `chmod 600 \(p)`; the daemon refuses a private key others can read"
        case .unreadable(let p, let r): "key file \(p) cannot be read: \(r)"
        case .malformed(let why): "key file malformed: \(why)"
        case .exists(let p): "key file \(p) already exists; refusing to overwrite a key (move it away first if you mean to replace it)"
        }
    }
}

/// Reading and writing the gateway's private key file, owner-only.
public enum KeyFile {
    /// Loads the key at `path`, refusing a file that group or others can read.
    public static func load(_ path: String) throws(KeyFileError) -> SigningKey {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { throw .missing(path) }
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if st.st_mode & 0o077 != 0 {
            throw .readableByOthers(path: path, mode: String(st.st_mode & 0o777, radix: 8))
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .unreadable(path: path, reason: "not readable as text")
        }
        do { return try SigningKey(pem: text) }
        catch { throw .malformed("\(path): \(error)") }
    }

    /// Writes a new key to `path` with mode 0600, never replacing a file.
    public static func create(_ key: SigningKey, at path: String) throws(KeyFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw .exists(path) }
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        let bytes = Array(key.pem.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw .unreadable(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Loads the key, creating it first when absent (first start of a box).
    public static func loadOrCreate(_ path: String) throws(KeyFileError) -> (SigningKey, created: Bool) {
        do { return (try load(path), false) }
        catch .missing {
            try create(.generate(), at: path)
            return (try load(path), true)
        }
    }
}
