import Foundation
import Logging

/// Log lines on stderr with the `<N>` syslog priority prefix that journald
/// reads (sd-daemon(3)), then the message and sorted `key=value` metadata.
public struct PriorityLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        FileHandle.standardError.write(Data(Self.line(level: event.level, message: "\(event.message)", metadata: all).utf8))
    }

    /// One event as one line: `<N>message key=value…\n`. journald starts a new
    /// entry at every newline and takes the priority from a line's own `<N>`,
    /// so a raw newline would split an error into entries whose continuation
    /// is logged at the default priority, and a newline in text from outside
    /// (a device name, a peer's answer) could forge an entry of any priority.
    /// Control characters in the message and the values are therefore escaped
    /// (`\n`, `\r`, `\t`, `\xNN`).
    public static func line(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let fields = metadata.sorted { $0.key < $1.key }
            .map { "\(escape($0.key))=\(quote(escape("\($0.value)")))" }.joined(separator: " ")
        return "<\(priority(level))>\(escape(message))\(fields.isEmpty ? "" : " " + fields)\n"
    }

    static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return s }
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count + 8)
        for u in s.unicodeScalars {
            switch u.value {
            case 0x0a: out += "\\n"
            case 0x0d: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7f:
                let hex = String(u.value, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : s
    }

    /// Bootstraps swift-log once per process.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { PriorityLogHandler(label: $0, level: level) }
    }
}
