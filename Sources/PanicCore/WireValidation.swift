/// The ranges every field of an alert or heartbeat must be in, checked where
/// the receiver decodes a body, before anything is stored or computed.
///
/// A field outside them is the sender's malformed request (400): a zone of
/// −5, a sequence near `Int64.max` (whose successor would overflow), a
/// heartbeat interval whose nanoseconds do not fit, a name holding escape
/// sequences for a terminal. These are the wire's limits; the gateway's
/// configuration keeps its own, narrower ones.
public enum WireLimits {
    /// Sequence numbers: positive, and far enough below `Int64.max` that
    /// `sequence + 1` and gap arithmetic cannot overflow.
    public static let sequence: ClosedRange<Int64> = 1...(1 << 53)
    public static let zone = 0...9_999
    public static let area = 0...99
    public static let heartbeatIntervalSeconds = 1...86_400
    public static let identifierLength = 1...64
    public static let siteLength = 1...200
    public static let detailLength = 0...2_000
    public static let queueEntries = 0...64
    public static let inputEntries = 0...1_024
    public static let counter: ClosedRange<Int64> = 0...(1 << 53)

    /// Gateway ids, input and destination names: `A-Z a-z 0-9 . _ -`.
    public static func isIdentifier(_ s: String) -> Bool {
        identifierLength.contains(s.utf8.count) && s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
        }
    }

    /// Free text with no control characters (C0, DEL, C1), or with only
    /// newline and tab among them when `allowNewlines`.
    public static func isPrintable(_ s: String, allowNewlines: Bool = false) -> Bool {
        s.unicodeScalars.allSatisfy { u in
            if allowNewlines, u == "\n" || u == "\t" { return true }
            return !(u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0))
        }
    }
}

extension Alert {
    /// Why this decoded alert is not acceptable, or nil when every field is
    /// in range.
    public func wireProblem() -> String? {
        guard version == Alert.currentVersion else { return "version \(version) is not supported (this receiver speaks version \(Alert.currentVersion))" }
        guard AlertIDGenerator.isValid(id) else { return "id must be a lower-case UUIDv7" }
        guard WireLimits.isIdentifier(gatewayID) else { return "gateway_id must be 1 to 64 of A-Z a-z 0-9 . _ -" }
        guard WireLimits.siteLength.contains(site.count), WireLimits.isPrintable(site) else { return "site must be 1 to 200 printable characters" }
        guard WireLimits.sequence.contains(sequence) else { return "sequence must be from 1 to \(WireLimits.sequence.upperBound)" }
        guard kind != .heartbeat else { return "kind heartbeat is not an alert; heartbeats go to /v1/heartbeats" }
        if kind == .restore {
            guard let r = restores, r != .restore, r != .heartbeat else { return "a restore must name the kind it restores" }
        } else if restores != nil {
            return "restores is only for kind restore"
        }
        if let input, !WireLimits.isIdentifier(input) { return "input must be 1 to 64 of A-Z a-z 0-9 . _ -" }
        if let zone, !WireLimits.zone.contains(zone) { return "zone must be from 0 to 9999" }
        if let area, !WireLimits.area.contains(area) { return "area must be from 0 to 99" }
        if let detail, !WireLimits.detailLength.contains(detail.count) || !WireLimits.isPrintable(detail, allowNewlines: true) {
            return "detail must be at most 2000 characters without control characters"
        }
        return nil
    }
}

extension Heartbeat {
    /// Why this decoded heartbeat is not acceptable, or nil.
    public func wireProblem() -> String? {
        guard version == 1 else { return "version \(version) is not supported (this receiver speaks version 1)" }
        guard kind == .heartbeat else { return "kind must be heartbeat" }
        guard AlertIDGenerator.isValid(id) else { return "id must be a lower-case UUIDv7" }
        guard WireLimits.isIdentifier(gatewayID) else { return "gateway_id must be 1 to 64 of A-Z a-z 0-9 . _ -" }
        guard WireLimits.siteLength.contains(site.count), WireLimits.isPrintable(site) else { return "site must be 1 to 200 printable characters" }
        guard WireLimits.heartbeatIntervalSeconds.contains(intervalSeconds) else { return "interval_s must be from 1 to 86400" }
        guard WireLimits.counter.contains(lastSequence) else { return "last_sequence must be from 0 to \(WireLimits.counter.upperBound)" }
        guard WireLimits.counter.contains(evictedTelemetry) else { return "evicted_telemetry must be from 0 to \(WireLimits.counter.upperBound)" }
        guard WireLimits.queueEntries.contains(queue.count) else { return "at most 64 queue entries" }
        if let r = restart {
            guard r.previousStop == RestartNotice.clean || r.previousStop == RestartNotice.unclean else { return "restart.previous_stop must be clean or unclean" }
        }
        for q in queue {
            guard WireLimits.isIdentifier(q.destination) else { return "queue destination must be 1 to 64 of A-Z a-z 0-9 . _ -" }
            guard q.pending >= 0, q.pending <= 1 << 53 else { return "queue pending must be from 0 to \(1 << 53)" }
            if let age = q.oldestPendingAgeSeconds, !(age.isFinite && age >= 0 && age < 1e10) { return "oldest_pending_age_s must be a finite number of seconds" }
        }
        guard WireLimits.inputEntries.contains(inputs.count) else { return "at most 1024 inputs" }
        for i in inputs {
            guard WireLimits.isIdentifier(i.name) else { return "input name must be 1 to 64 of A-Z a-z 0-9 . _ -" }
            guard ["idle", "pressed", "trouble"].contains(i.state) else { return "input state must be idle, pressed or trouble" }
        }
        if let k = nextPublicKey, k.utf8.count != 44 { return "next_public_key must be the base64 of a 32-byte Ed25519 key" }
        return nil
    }
}

extension String {
    /// This text with control characters (C0, DEL, C1 — escape sequences,
    /// newlines) written as `\u{1B}`, so what a sender wrote can neither
    /// forge a line of a log or a terminal nor drive the terminal.
    public var escapingControlCharacters: String { escapingControlCharacters(keeping: []) }

    /// The same, leaving the scalars in `kept` (newline and tab, say) as they are.
    public func escapingControlCharacters(keeping kept: Set<Unicode.Scalar>) -> String {
        func isControl(_ u: Unicode.Scalar) -> Bool { (u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0)) && !kept.contains(u) }
        guard unicodeScalars.contains(where: isControl) else { return self }
        var out = String.UnicodeScalarView()
        for u in unicodeScalars {
            if isControl(u) { out.append(contentsOf: "\\u{\(String(u.value, radix: 16, uppercase: true))}".unicodeScalars) }
            else { out.append(u) }
        }
        return String(out)
    }
}

extension Alert {
    /// `text` as the receiver accepts a detail: control characters other
    /// than newline and tab escaped, at most 2000 characters. The gateway
    /// writes every detail through this, so a device's garbage quoted in a
    /// trouble message can never make an alert the receiver refuses for ever.
    public static func wireSafeDetail(_ text: String) -> String {
        let s = text.escapingControlCharacters(keeping: ["\n", "\t"])
        return s.count <= WireLimits.detailLength.upperBound ? s : String(s.prefix(WireLimits.detailLength.upperBound - 1)) + "…"
    }
}
