import PanicCore

/// One DC-09 frame:
/// `<LF> CRC 0LLL "ID" seq R rcvr L pref #acct [data][xdata…]_timestamp <CR>`.
///
/// Encrypted frames (`"*ID"`) carry everything after `[` as hex of
/// AES-CBC(`pad|data]xdata_timestamp`). `encode` builds the bytes; `decode`
/// checks CRC and length, decrypts when needed, and splits the fields.
public struct DC09Frame: Sendable, Equatable {
    /// `SIA-DCS`, `ADM-CID`, `NULL`, `ACK`, `NAK`, `DUH`, …, without the `*`.
    public var id: String
    /// Sent as `"*ID"` with the part after `[` encrypted.
    public var encrypted: Bool
    /// 0...9999; replies echo it (a NAK carries 0000).
    public var sequence: Int
    /// The `R` field, hex digits; nil when absent.
    public var receiver: String?
    /// The `L` field, hex digits; nil when absent.
    public var linePrefix: String?
    /// The `#` field, hex digits; nil when absent.
    public var account: String?
    /// Between `[` and the first `]`: `#1234|Nri1/PA501`, or empty.
    public var data: String
    /// Each `[…]` after the data, without the brackets: `H07:00:00,11-29-2026`.
    public var extendedData: [String]
    /// After `_`: `HH:MM:SS,MM-DD-YYYY` as sent (nil when absent).
    public var timestampText: String?

    public init(
        id: String, encrypted: Bool = false, sequence: Int, receiver: String? = nil, linePrefix: String? = nil,
        account: String? = nil, data: String = "", extendedData: [String] = [], timestamp: WallTime? = nil
    ) {
        self.id = id
        self.encrypted = encrypted
        self.sequence = sequence
        self.receiver = receiver
        self.linePrefix = linePrefix
        self.account = account
        self.data = data
        self.extendedData = extendedData
        self.timestampText = timestamp.map(DC09Timestamp.format)
    }

    /// The timestamp, when present and well-formed.
    public var timestamp: WallTime? { timestampText.flatMap { DC09Timestamp.parse($0) } }

    // MARK: Building

    /// The frame's bytes, LF to CR. Encrypted frames need `key`; `pad` fixes
    /// the pad (random otherwise). Never sends plaintext when `encrypted`.
    public func encode(key: [UInt8]? = nil, pad: String? = nil) throws(DC09CodecError) -> [UInt8] {
        try check("ID", id, allowed: "1 to 16 of A-Z 0-9 -") { s in
            !s.isEmpty && s.count <= 16 && s.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        }
        guard (0...9999).contains(sequence) else {
            throw .invalidField(field: "sequence", value: "\(sequence)", allowed: "0 to 9999")
        }
        for (name, value, range) in [("R", receiver, 1...6), ("L", linePrefix, 1...6), ("#", account, 3...16)] {
            guard let value else { continue }
            try check(name, value, allowed: "\(range.lowerBound) to \(range.upperBound) hex digits") { s in
                range.contains(s.count) && s.utf8.allSatisfy { DC09Hex.value($0) != nil }
            }
        }
        try check("data", data, allowed: "printable ASCII without [ ]") { Self.printable($0, forbidding: "[]") }
        for x in extendedData {
            try check("extended data", x, allowed: "printable ASCII without [ ]") { Self.printable($0, forbidding: "[]") }
        }
        if let ts = timestampText {
            try check("timestamp", ts, allowed: "HH:MM:SS,MM-DD-YYYY") { DC09Timestamp.parse($0) != nil }
        }
        var header = "\"\(encrypted ? "*" : "")\(id)\"\(DC09Frame.fourDigits(sequence))"
        if let receiver { header += "R\(receiver)" }
        if let linePrefix { header += "L\(linePrefix)" }
        if let account { header += "#\(account)" }
        var content = data + "]" + extendedData.map { "[\($0)]" }.joined()
        if let ts = timestampText { content += "_" + ts }
        let body: String
        if encrypted {
            guard let key else { throw .encryptedWithoutKey }
            body = header + "[" + (try DC09Cipher(key: key).encrypt(content: content, pad: pad))
        } else {
            body = header + "[" + content
        }
        return try Self.wrap(body: body)
    }

    /// Adds `<LF>CRC 0LLL` in front of `body` (from its opening `"`) and CR after.
    public static func wrap(body: String) throws(DC09CodecError) -> [UInt8] {
        let bytes = Array(body.utf8)
        guard bytes.count <= 0xFFF else { throw .frameTooLong(bytes: bytes.count) }
        return [0x0A] + Array((CRC16ARC.hex(bytes) + "0" + DC09Hex.encode(bytes.count, digits: 3)).utf8) + bytes + [0x0D]
    }

    private func check(_ field: String, _ value: String, allowed: String, _ ok: (String) -> Bool) throws(DC09CodecError) {
        if !ok(value) { throw .invalidField(field: field, value: value, allowed: allowed) }
    }

    static func printable(_ s: String, forbidding: String) -> Bool {
        let bad = Set(forbidding.utf8)
        return s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && !bad.contains($0) }
    }

    static func fourDigits(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    // MARK: Reading

    /// Reads one frame: leading LF and trailing CR are optional; CRC and
    /// length are checked before anything else. An encrypted frame is
    /// decrypted with `key`; a `|` after the pad is optional.
    public static func decode(_ received: [UInt8], key: [UInt8]? = nil) throws(DC09CodecError) -> DC09Frame {
        if received.count > DC09.maximumReplyBytes { throw .oversized(bytes: received.count) }
        var start = 0
        var end = received.count
        while start < end, [0x0A, 0x0D, 0x20, 0x00].contains(received[start]) { start += 1 }
        while end > start, [0x0A, 0x0D, 0x20, 0x00].contains(received[end - 1]) { end -= 1 }
        if start == end { throw .empty }
        guard end - start >= 8 + 2 else { throw .malformed(reason: "too short for CRC, length and a message id", offset: start) }
        let crcText = received[start..<start + 4]
        let lengthText = received[start + 4..<start + 8]
        guard let declaredCRC = DC09Hex.number(crcText) else {
            throw .malformed(reason: "expected 4 hex digits of CRC", offset: start)
        }
        guard let declaredLength = DC09Hex.number(lengthText) else {
            throw .malformed(reason: "expected the length field 0LLL (hex)", offset: start + 4)
        }
        let body = Array(received[start + 8..<end])
        guard body.count == declaredLength else { throw .lengthMismatch(declared: declaredLength, actual: body.count) }
        let computed = CRC16ARC.checksum(body)
        guard computed == UInt16(declaredCRC) else {
            throw .crcMismatch(declared: String(decoding: crcText, as: UTF8.self).uppercased(), computed: DC09Hex.encode(computed, digits: 4))
        }
        return try parseBody(body, offset: start + 8, key: key)
    }

    static func parseBody(_ b: [UInt8], offset: Int, key: [UInt8]?) throws(DC09CodecError) -> DC09Frame {
        var i = 0
        func fail(_ reason: String) -> DC09CodecError { .malformed(reason: reason, offset: offset + i) }
        guard b.first == UInt8(ascii: "\"") else { throw fail("expected \" before the message id") }
        i = 1
        var encrypted = false
        if i < b.count, b[i] == UInt8(ascii: "*") { encrypted = true; i += 1 }
        let idStart = i
        while i < b.count, b[i] != UInt8(ascii: "\"") { i += 1 }
        guard i < b.count, i > idStart else { throw fail("expected a message id and its closing \"") }
        let id = String(decoding: b[idStart..<i], as: UTF8.self)
        guard printable(id, forbidding: "[]") else { throw fail("message id is not text") }
        i += 1
        guard i + 4 <= b.count, b[i..<i + 4].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { throw fail("expected a 4-digit sequence number") }
        let sequence = Int(String(decoding: b[i..<i + 4], as: UTF8.self))!
        i += 4
        var fields: [UInt8: String] = [:]
        while i < b.count, b[i] != UInt8(ascii: "[") {
            let tag = b[i]
            guard [UInt8(ascii: "R"), UInt8(ascii: "L"), UInt8(ascii: "#"), UInt8(ascii: "A")].contains(tag) else {
                throw fail("unexpected \"\(String(decoding: [tag], as: UTF8.self))\" in the header (R, L, # or [ expected)")
            }
            i += 1
            let s = i
            while i < b.count, DC09Hex.value(b[i]) != nil { i += 1 }
            guard i > s, i - s <= 16 else { throw fail("expected hex digits after \(String(decoding: [tag], as: UTF8.self))") }
            fields[tag] = String(decoding: b[s..<i], as: UTF8.self)
        }
        guard i < b.count else { throw fail("expected [ (data) after the header") }
        i += 1
        var frame = DC09Frame(
            id: id, encrypted: encrypted, sequence: sequence, receiver: fields[UInt8(ascii: "R")],
            linePrefix: fields[UInt8(ascii: "L")], account: fields[UInt8(ascii: "#")])
        let content: String
        let contentOffset: Int
        if encrypted {
            guard let key else { throw .encryptedWithoutKey }
            var rest = b[i...]
            if rest.last == UInt8(ascii: "]") { rest = rest.dropLast() }
            let plain = try DC09Cipher(key: key).decrypt(hex: Substring(String(decoding: rest, as: UTF8.self)))
            content = stripPad(plain)
            contentOffset = -1
        } else {
            content = String(decoding: b[i...], as: UTF8.self)
            contentOffset = offset + i
        }
        try parseContent(content, into: &frame, offset: contentOffset)
        return frame
    }

    /// Drops the pad: everything up to the first `|` when that comes before
    /// any `]` or `[`; otherwise the leading run of `[A-Za-z0-9]` (receivers
    /// that omit the `|`, pysiaalarm's replies among them).
    static func stripPad(_ plain: String) -> String {
        let u = Array(plain.utf8)
        if let bar = u.firstIndex(of: UInt8(ascii: "|")),
           !u[..<bar].contains(where: { $0 == UInt8(ascii: "]") || $0 == UInt8(ascii: "[") }) {
            return String(decoding: u[(bar + 1)...], as: UTF8.self)
        }
        var k = 0
        while k < u.count, (u[k] >= 48 && u[k] <= 57) || (u[k] >= 65 && u[k] <= 90) || (u[k] >= 97 && u[k] <= 122) { k += 1 }
        return String(decoding: u[k...], as: UTF8.self)
    }

    /// `data]` `[x]`… `_timestamp`: the part after `[`, decrypted if it was.
    static func parseContent(_ content: String, into frame: inout DC09Frame, offset: Int) throws(DC09CodecError) {
        let u = Array(content.utf8)
        var i = 0
        func fail(_ reason: String) -> DC09CodecError {
            .malformed(reason: offset < 0 ? "\(reason) (in the decrypted part)" : reason, offset: offset < 0 ? 0 : offset + i)
        }
        while i < u.count, u[i] != UInt8(ascii: "]") {
            if u[i] == UInt8(ascii: "[") { throw fail("[ inside the data") }
            i += 1
        }
        guard i < u.count else { throw fail("expected ] to close the data") }
        frame.data = String(decoding: u[0..<i], as: UTF8.self)
        i += 1
        frame.extendedData = []
        while i < u.count, u[i] == UInt8(ascii: "[") {
            let s = i + 1
            i = s
            while i < u.count, u[i] != UInt8(ascii: "]") { i += 1 }
            guard i < u.count else { throw fail("expected ] to close extended data") }
            frame.extendedData.append(String(decoding: u[s..<i], as: UTF8.self))
            i += 1
        }
        if i < u.count {
            guard u[i] == UInt8(ascii: "_") else { throw fail("expected _ and a timestamp, or the end of the frame") }
            frame.timestampText = String(decoding: u[(i + 1)...], as: UTF8.self)
        } else {
            frame.timestampText = nil
        }
    }
}
