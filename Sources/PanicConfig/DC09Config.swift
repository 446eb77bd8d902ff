import Foundation
import PanicCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One SIA DC-09 destination (`type = "dc09"` in `[[uplinks]]`): an alarm
/// receiving centre's receiver, and optionally a backup receiver.
///
/// ```toml
/// [[uplinks]]
/// name = "arc"
/// type = "dc09"
/// host = "arc1.example"          # primary receiver
/// port = 12000
/// backup_host = "arc2.example"   # optional; backup_port then required
/// backup_port = 12000
/// transport = "tcp"              # or "udp"
/// account = "1234"               # 3 to 16 hex digits
/// receiver_number = "0"          # R in the frame, 1 to 6 hex digits
/// line_prefix = "0"              # L in the frame, 1 to 6 hex digits
/// format = "sia-dcs"             # or "adm-cid"
/// key = "0123456789ABCDEF"       # optional AES key ...
/// key_format = "ascii"           # ... with its form: "hex" or "ascii"
/// ack_timeout_ms = 5000
/// backoff_initial_ms = 1000
/// backoff_max_ms = 60000
/// supervision_interval_s = 90    # 0 = no supervision messages
/// supervision = "null"           # or "periodic-test"
/// failover_after = 3             # failures before switching to the backup
/// codes = { "lobby-panic" = "HA" }
/// ```
public struct DC09Config: Sendable, Equatable {
    /// How frames travel.
    public enum Transport: String, Sendable, CaseIterable {
        /// One connection, kept open, reconnected on failure.
        case tcp
        /// One datagram per frame.
        case udp
    }

    /// The message format of event frames.
    public enum Format: String, Sendable, CaseIterable {
        /// SIA DC-03 event codes (`Nri1/PA501`).
        case siaDCS = "sia-dcs"
        /// Ademco Contact ID (`1120 01 501`).
        case admCID = "adm-cid"
    }

    /// How the configured `key` text becomes key bytes.
    public enum KeyFormat: String, Sendable, CaseIterable {
        /// 32, 48 or 64 hex digits decoded to 16, 24 or 32 bytes.
        case hex
        /// 16, 24 or 32 characters whose ASCII codes are the key (pysiaalarm's way).
        case ascii
    }

    /// What the supervision message is.
    public enum Supervision: String, Sendable, CaseIterable {
        /// A `NULL` message (link test, no event).
        case null
        /// A periodic test event (RP / 1602).
        case periodicTest = "periodic-test"
    }

    /// A receiver's address.
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        /// A host name or an IP address (IPv6 without brackets).
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// An input's own event code, in the destination's format. SIA-DCS: a
    /// two-letter code for the alarm and optionally one for its restore
    /// (`"HA"` or `"HA/HH"`). ADM-CID: a three-digit event code (`"121"`);
    /// the qualifier (1 new, 3 restore) is added when sending.
    public struct CodeOverride: Sendable, Equatable {
        public var alarm: String
        public var restore: String?

        public init(alarm: String, restore: String? = nil) {
            self.alarm = alarm
            self.restore = restore
        }
    }

    public var name: String
    public var primary: Endpoint
    public var backup: Endpoint?
    public var transport: Transport
    /// Upper-case hex digits, 3 to 16.
    public var account: String
    /// The `R` field: upper-case hex digits, 1 to 6.
    public var receiverNumber: String
    /// The `L` field: upper-case hex digits, 1 to 6.
    public var linePrefix: String
    public var format: Format
    /// AES-128/192/256 key bytes; when set, every frame is encrypted.
    public var key: [UInt8]?
    public var ackTimeoutMilliseconds: Int
    public var backoff: Backoff
    /// 0 means no supervision messages.
    public var supervisionIntervalSeconds: Int
    public var supervision: Supervision
    /// Consecutive failures on the primary before the backup takes over.
    public var failoverAfter: Int
    /// Per input name.
    public var codes: [String: CodeOverride]

    public init(
        name: String, primary: Endpoint, backup: Endpoint? = nil, transport: Transport = .tcp, account: String,
        receiverNumber: String = "0", linePrefix: String = "0", format: Format = .siaDCS, key: [UInt8]? = nil,
        ackTimeoutMilliseconds: Int = 5_000,
        backoff: Backoff = Backoff(initial: .milliseconds(1_000), maximum: .milliseconds(60_000)),
        supervisionIntervalSeconds: Int = 0, supervision: Supervision = .null, failoverAfter: Int = 3,
        codes: [String: CodeOverride] = [:]
    ) {
        self.name = name
        self.primary = primary
        self.backup = backup
        self.transport = transport
        self.account = account
        self.receiverNumber = receiverNumber
        self.linePrefix = linePrefix
        self.format = format
        self.key = key
        self.ackTimeoutMilliseconds = ackTimeoutMilliseconds
        self.backoff = backoff
        self.supervisionIntervalSeconds = supervisionIntervalSeconds
        self.supervision = supervision
        self.failoverAfter = failoverAfter
        self.codes = codes
    }

    /// The value of `type` in `[[uplinks]]` that selects this destination.
    public static let typeName = "dc09"

    /// Reads the keys of one `[[uplinks]]` table with `type = "dc09"`, other
    /// than `name` and `type` (the caller has read those). Every problem is
    /// recorded on `t`, located; returns nil when there was one.
    public static func read(_ t: TableReader, name: String) -> DC09Config? {
        let errorsBefore = t.context.errors.count
        let host = t.string("host", required: true, allowed: "a host name or an IP address of the receiver", check: checkHost)
        let port = t.int("port", required: true, range: 1...65_535)
        let backupHost = t.string("backup_host", check: checkHost)
        let backupPort = t.int("backup_port", range: 1...65_535)
        var backup: Endpoint?
        switch (backupHost, backupPort) {
        case (let h?, let p?): backup = Endpoint(host: h, port: p)
        case (.some, nil): if !t.table.contains(key: "backup_port") { t.fail("backup_host", "given without backup_port; give both (backup_port: an integer from 1 to 65535)") }
        case (nil, .some): if !t.table.contains(key: "backup_host") { t.fail("backup_port", "given without backup_host; give both or neither") }
        case (nil, nil): break
        }
        let transport = t.choice("transport", Transport.self) ?? .tcp
        let account = t.string("account", required: true, allowed: "3 to 16 hex digits (0-9, A-F)", check: { hexDigits($0, 3...16) })
        let receiverNumber = hexField(t, "receiver_number")
        let linePrefix = hexField(t, "line_prefix")
        let format = t.choice("format", Format.self) ?? .siaDCS
        let key = readKey(t)
        let ackTimeout = t.int("ack_timeout_ms", range: 100...120_000, unit: " ms") ?? 5_000
        let initial = t.int("backoff_initial_ms", range: 10...600_000, unit: " ms") ?? 1_000
        let maximum = t.int("backoff_max_ms", range: 100...3_600_000, unit: " ms") ?? 60_000
        if maximum < initial { t.fail("backoff_max_ms", "must be at least backoff_initial_ms (\(initial))") }
        let interval = t.int("supervision_interval_s", range: 0...86_400, unit: " s (0 = no supervision messages)") ?? 0
        let supervision = t.choice("supervision", Supervision.self) ?? .null
        let failoverAfter = t.int("failover_after", range: 1...1_000, unit: " failures")
        if failoverAfter != nil, backup == nil, backupHost == nil {
            t.fail("failover_after", "only meaningful with a backup receiver (backup_host and backup_port)")
        }
        let codes = readCodes(t, format: format)
        t.rejectUnknownKeys()
        guard t.context.errors.count == errorsBefore, let host, let port, let account else { return nil }
        return DC09Config(
            name: name, primary: Endpoint(host: host, port: port), backup: backup, transport: transport,
            account: account.uppercased(), receiverNumber: receiverNumber ?? "0", linePrefix: linePrefix ?? "0",
            format: format, key: key, ackTimeoutMilliseconds: ackTimeout,
            backoff: Backoff(initial: .milliseconds(Int64(initial)), maximum: .milliseconds(Int64(maximum))),
            supervisionIntervalSeconds: interval, supervision: supervision, failoverAfter: failoverAfter ?? 3,
            codes: codes)
    }

    /// Reads one DC-09 destination written as a top-level TOML table (the
    /// keys of one `[[uplinks]]` item, `name` and `type` included); for tests
    /// and tools that hold a DC-09 destination on its own.
    public static func parse(toml text: String, file: String) throws(ConfigErrors) -> DC09Config {
        let (table, context) = try ReadContext.parse(text, file: file)
        let t = TableReader(table, path: "", context: context)
        let name = t.string("name", required: true, allowed: "1 to 64 of a-z A-Z 0-9 . _ -", check: Validate.identifier)
        let type = t.string("type", required: true, allowed: "\"\(typeName)\"")
        if let type, type != typeName { t.fail("type", "\"\(type)\" is not allowed here; \"\(typeName)\"") }
        let config = read(t, name: name ?? "")
        if !context.errors.isEmpty { throw ConfigErrors(errors: context.errors) }
        return config!
    }

    // MARK: Field checks

    /// A host name (letters, digits, hyphens, dots) or an IP address.
    static func checkHost(_ s: String) -> String? {
        if s.isEmpty { return "must not be empty; a host name or an IP address" }
        if isIPAddress(s) { return nil }
        if s.hasPrefix("[") { return "\"\(s)\": write an IPv6 address without brackets (the port is a key of its own)" }
        if s.contains(":") { return "\"\(s)\" is not a host name or IP address; the port goes in its own key" }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        let ok = s.count <= 253 && labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && l.first != "-" && l.last != "-"
                && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        if !ok { return "\"\(s)\" is not a host name or IP address (letters, digits, hyphens and dots)" }
        if labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) { return "\"\(s)\" is not a valid IPv4 address" }
        return nil
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    static func hexDigits(_ s: String, _ count: ClosedRange<Int>) -> String? {
        let ok = count.contains(s.count) && s.allSatisfy(\.isHexDigit) && s.allSatisfy(\.isASCII)
        return ok ? nil : "\"\(s)\" is not allowed; \(count.lowerBound) to \(count.upperBound) hex digits (0-9, A-F)"
    }

    /// `R` and `L` fields: a string of 1 to 6 hex digits, or an integer whose
    /// decimal digits are used as written.
    static func hexField(_ t: TableReader, _ key: String) -> String? {
        t.markConsumed(key)
        guard let v = t.table[key] else { return nil }
        let allowed = "1 to 6 hex digits as a string (\"0\", \"1A\"), or an integer from 0 to 999999"
        if let n = v.int {
            guard (0...999_999).contains(n) else { t.fail(key, "\(n) is out of range; \(allowed)"); return nil }
            return String(n)
        }
        guard let s = v.string else { t.fail(key, "must be \(allowed), not \(v.type)"); return nil }
        if let problem = hexDigits(s, 1...6) { t.fail(key, problem); return nil }
        return s.uppercased()
    }

    static func readKey(_ t: TableReader) -> [UInt8]? {
        let text = t.string("key")
        let format = t.choice("key_format", KeyFormat.self)
        switch (text, format) {
        case (nil, nil): return nil
        case (nil, .some):
            if !t.table.contains(key: "key") { t.fail("key_format", "given without key; give both or neither") }
            return nil
        case (.some, nil):
            if !t.table.contains(key: "key_format") {
                t.fail("key", "needs key_format: \"hex\" (32, 48 or 64 hex digits decoded to bytes) or \"ascii\" (16, 24 or 32 characters used as bytes, as pysiaalarm does); ask the receiving centre which their receiver expects")
            }
            return nil
        case (let s?, let f?):
            switch f {
            case .hex:
                guard [32, 48, 64].contains(s.count), s.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
                    t.fail("key", "with key_format = \"hex\" the key must be 32, 48 or 64 hex digits (AES-128, -192, -256); got \(s.count) characters\(s.allSatisfy { $0.isASCII && $0.isHexDigit } ? "" : " with non-hex ones")")
                    return nil
                }
                var bytes: [UInt8] = []
                var i = s.startIndex
                while i < s.endIndex {
                    let j = s.index(i, offsetBy: 2)
                    bytes.append(UInt8(s[i..<j], radix: 16)!)
                    i = j
                }
                return bytes
            case .ascii:
                guard [16, 24, 32].contains(s.count), s.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.asciiValue! >= 0x21 && $0.asciiValue! < 0x7F }) else {
                    t.fail("key", "with key_format = \"ascii\" the key must be 16, 24 or 32 printable ASCII characters (AES-128, -192, -256); got \(s.count) characters")
                    return nil
                }
                return Array(s.utf8)
            }
        }
    }

    static func readCodes(_ t: TableReader, format: Format) -> [String: CodeOverride] {
        guard let codes = t.table("codes") else { return [:] }
        var out: [String: CodeOverride] = [:]
        for input in codes.table.keys.sorted() {
            let allowed: String
            let check: (String) -> String?
            switch format {
            case .siaDCS:
                allowed = "a two-letter SIA code for the alarm, optionally \"/\" and one for its restore (\"HA\" or \"HA/HH\")"
                check = { s in
                    let parts = s.split(separator: "/", omittingEmptySubsequences: false)
                    let ok = (1...2).contains(parts.count) && parts.allSatisfy { p in p.count == 2 && p.allSatisfy { $0.isASCII && $0.isUppercase } }
                    return ok ? nil : "\"\(s)\" is not allowed with format = \"sia-dcs\"; \(allowed)"
                }
            case .admCID:
                allowed = "a three-digit Contact ID event code (\"120\" panic, \"121\" or \"122\" duress, \"137\" tamper); the qualifier is added when sending"
                check = { s in
                    guard s.count == 3, s.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                        return "\"\(s)\" is not allowed with format = \"adm-cid\"; \(allowed)"
                    }
                    if s == "123" { return "\"123\" (audible panic) is not allowed: common receivers (pysiaalarm) have no mapping for it; use \"120\"" }
                    return nil
                }
            }
            guard let code = codes.string(input, allowed: allowed, check: check) else { continue }
            if Validate.identifier(input) != nil { codes.fail(input, "\"\(input)\" is not an input name; input names are 1 to 64 of A-Z a-z 0-9 . _ -"); continue }
            let parts = code.split(separator: "/").map(String.init)
            out[input] = CodeOverride(alarm: parts[0], restore: parts.count > 1 ? parts[1] : nil)
        }
        codes.rejectUnknownKeys()
        return out
    }
}
