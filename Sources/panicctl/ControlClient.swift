import Foundation
import PanicPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes that mean something to scripts.
enum Exit {
    static let checkFailed: Int32 = 1
    static let configInvalid: Int32 = 2
    static let daemonNotRunning: Int32 = 3
    static let permissionDenied: Int32 = 4
    static let keyProblem: Int32 = 5
}

/// A failure to talk to the daemon, worded for the technician.
struct ClientError: Error, CustomStringConvertible {
    var message: String
    var code: Int32
    var description: String { message }
}

/// One connection to the daemon's control socket (JSON lines, v1).
final class ControlClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(message: "cannot create a socket: \(String(cString: strerror(errno)))", code: Exit.daemonNotRunning) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b } }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            let e = errno
            close(fd)
            switch e {
            case ENOENT, ECONNREFUSED:
                throw ClientError(message: "the daemon is not running (no one listens on \(path)); start it with `systemctl start panic-gateway`, or give --socket", code: Exit.daemonNotRunning)
            case EACCES, EPERM:
                throw ClientError(message: "permission denied on \(path); add your user to group \"\(GPIOChips.groupName(of: path))\" (then log in again) or use sudo", code: Exit.permissionDenied)
            default:
                throw ClientError(message: "cannot connect to \(path): \(String(cString: strerror(e)))", code: Exit.daemonNotRunning)
            }
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends a command; calls `onEvent` for streamed events; returns the final reply.
    func call(_ command: String, args: [String: Any] = [:], onEvent: ([String: Any]) -> Void = { _ in }) throws -> [String: Any] {
        var data = try JSONSerialization.data(withJSONObject: ["v": 1, "cmd": command, "args": args])
        data.append(0x0A)
        _ = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        while true {
            let line = try readLine()
            guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw ClientError(message: "the daemon sent something that is not a JSON object", code: Exit.checkFailed)
            }
            if let event = object["event"] as? [String: Any] { onEvent(event); continue }
            if object["done"] == nil, object["ok"] as? Bool == false, let e = object["error"] as? String, e.hasPrefix("permission denied") {
                throw ClientError(message: e, code: Exit.permissionDenied)
            }
            return object
        }
    }

    private func readLine() throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                return line
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if n <= 0 { throw ClientError(message: "the daemon closed the connection", code: Exit.daemonNotRunning) }
            buffer += chunk[0..<n]
        }
    }
}

/// Terminal output: aligned tables, colour only on a terminal.
enum Output {
    static let colour = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    static func good(_ s: String) -> String { paint(s, "32") }
    static func bad(_ s: String) -> String { paint(s, "31;1") }
    static func warn(_ s: String) -> String { paint(s, "33") }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], visible(c)) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c + String(repeating: " ", count: widths[i] - visible(c)) }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// Length without colour escapes.
    static func visible(_ s: String) -> Int {
        var n = 0, inEscape = false
        for ch in s {
            if ch == "\u{1B}" { inEscape = true; continue }
            if inEscape { if ch == "m" { inEscape = false }; continue }
            n += 1
        }
        return n
    }

    static func json(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
