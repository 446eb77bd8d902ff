/// Splits a byte stream into lines with a bounded buffer. Over-long lines
/// are dropped whole (up to their newline); `\r` is ignored.
public struct LineFramer: Sendable {
    public let maximum: Int
    private var buffer: [UInt8] = []
    private var discarding = false

    public init(maximum: Int = 1024) { self.maximum = maximum }

    public enum Piece: Sendable, Equatable {
        case line([UInt8])
        case overlong
    }

    public mutating func feed(_ bytes: [UInt8]) -> [Piece] {
        var out: [Piece] = []
        for b in bytes {
            switch b {
            case UInt8(ascii: "\n"):
                if !discarding { out.append(.line(buffer)) }
                buffer.removeAll(keepingCapacity: true)
                discarding = false
            case UInt8(ascii: "\r"):
                continue
            default:
                guard !discarding else { continue }
                buffer.append(b)
                if buffer.count > maximum {
                    out.append(.overlong)
                    buffer.removeAll(keepingCapacity: true)
                    discarding = true
                }
            }
        }
        return out
    }

    public mutating func reset() {
        buffer.removeAll()
        discarding = false
    }
}

/// Newline-delimited text buttons. By default `BTN <id> PRESS`,
/// `BTN <id> RELEASE` and `HB`; each pattern is configurable, with `{id}`
/// standing for the button's id (letters, digits, `-`, `_`).
public struct LineProtocolDriver: SerialDriver {
    public struct Patterns: Sendable, Equatable {
        public var press: String
        public var release: String
        public var heartbeat: String
        public init(press: String = "BTN {id} PRESS", release: String = "BTN {id} RELEASE", heartbeat: String = "HB") {
            self.press = press
            self.release = release
            self.heartbeat = heartbeat
        }

        /// A pattern must hold `{id}` once (press, release), or not at all (heartbeat).
        public static func problem(_ pattern: String, needsID: Bool) -> String? {
            let count = pattern.components(separatedBy: "{id}").count - 1
            if pattern.isEmpty { return "must not be empty" }
            if needsID && count != 1 { return "must contain {id} exactly once" }
            if !needsID && count != 0 { return "must not contain {id}" }
            return nil
        }
    }

    /// What one line means.
    public enum Message: Sendable, Equatable {
        case press(String), release(String), heartbeat, unknown
    }

    public let patterns: Patterns
    /// Button id → port index.
    public let ports: [String: Int]
    /// Silence after which the device is in trouble; nil: not supervised.
    public let heartbeatTimeout: Nanoseconds?
    private var framer = LineFramer()
    private var lastHeard: MonotonicInstant?
    private var silent = false
    public private(set) var wakeAt: MonotonicInstant?

    public init(patterns: Patterns = .init(), ports: [String: Int], heartbeatTimeout: Nanoseconds? = nil) {
        self.patterns = patterns
        self.ports = ports
        self.heartbeatTimeout = heartbeatTimeout
    }

    public static func parse(_ line: String, patterns: Patterns) -> Message {
        let text = line.trimmingCharacters(in: .whitespaces)
        if text == patterns.heartbeat { return .heartbeat }
        if let id = match(text, patterns.press) { return .press(id) }
        if let id = match(text, patterns.release) { return .release(id) }
        return .unknown
    }

    public static func match(_ text: String, _ pattern: String) -> String? {
        let parts = pattern.components(separatedBy: "{id}")
        guard parts.count == 2, text.hasPrefix(parts[0]), text.hasSuffix(parts[1]),
              text.count > parts[0].count + parts[1].count else { return nil }
        let id = text.dropFirst(parts[0].count).dropLast(parts[1].count)
        guard id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        return String(id)
    }

    public mutating func connected(now: MonotonicInstant) -> [DriverOutput] {
        framer.reset()
        lastHeard = now
        if let t = heartbeatTimeout { wakeAt = now + t }
        return []
    }

    public mutating func received(_ bytes: [UInt8], now: MonotonicInstant) -> [DriverOutput] {
        var out: [DriverOutput] = []
        for piece in framer.feed(bytes) {
            guard case .line(let raw) = piece else {
                out.append(.rejected("line longer than \(framer.maximum) bytes"))
                continue
            }
            guard let line = String(validating: raw, as: UTF8.self) else {
                out.append(.rejected("line is not valid UTF-8"))
                continue
            }
            if line.isEmpty { continue }
            let message = Self.parse(line, patterns: patterns)
            switch message {
            case .press(let id), .release(let id):
                guard let port = ports[id] else {
                    out.append(.rejected("button \(id) is not configured"))
                    continue
                }
                out.append(.level(port: port, asserted: message == .press(id), at: now))
            case .heartbeat:
                break
            case .unknown:
                out.append(.rejected("unrecognised line: \(line.prefix(60))"))
                continue
            }
            lastHeard = now
            if let t = heartbeatTimeout { wakeAt = now + t }
            if silent {
                silent = false
                out.append(.trouble(ports: nil, cause: "device silent", cleared: true))
            }
        }
        return out
    }

    public mutating func tick(now: MonotonicInstant) -> [DriverOutput] {
        // Every path leaves `wakeAt` in the future or nil: a deadline left in
        // the past would have the input loop call again at once, for ever.
        guard let t = heartbeatTimeout, let last = lastHeard, !silent else {
            wakeAt = nil
            return []
        }
        guard now - last >= t else {
            wakeAt = last + t
            return []
        }
        silent = true
        wakeAt = nil
        return [.trouble(ports: nil, cause: "device silent: no heartbeat for \(Int((now - last).milliseconds)) ms", cleared: false)]
    }

    public mutating func disconnected() {
        // `silent` stays: the silence trouble is cleared when the device
        // speaks again, not by an unplug in between.
        wakeAt = nil
        framer.reset()
    }
}

import Foundation
