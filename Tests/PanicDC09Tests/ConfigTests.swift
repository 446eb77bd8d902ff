import PanicConfig
import PanicCore
import Testing

@Suite("DC-09 destination configuration")
struct DC09ConfigTests {
    static let minimal = """
        name = "arc"
        type = "dc09"
        host = "127.0.0.1"
        port = 12000
        account = "1234"
        """

    @Test("a minimal destination gets the documented defaults")
    func defaults() throws {
        let c = try DC09Config.parse(toml: Self.minimal, file: "dc09.toml")
        #expect(c == DC09Config(name: "arc", primary: .init(host: "127.0.0.1", port: 12000), account: "1234"))
        #expect(c.transport == .tcp && c.format == .siaDCS && c.key == nil)
        #expect(c.receiverNumber == "0" && c.linePrefix == "0")
        #expect(c.ackTimeoutMilliseconds == 5000 && c.supervisionIntervalSeconds == 0 && c.failoverAfter == 3)
    }

    @Test("every field of a full example is read as written")
    func full() throws {
        let c = try DC09Config.parse(toml: """
            name = "arc"
            type = "dc09"
            host = "arc1.example.net"
            port = 12000
            backup_host = "::1"
            backup_port = 12001
            transport = "udp"
            account = "abc123"
            receiver_number = "1A"
            line_prefix = 12
            format = "adm-cid"
            key = "000102030405060708090a0b0c0d0e0f"
            key_format = "hex"
            ack_timeout_ms = 2500
            backoff_initial_ms = 200
            backoff_max_ms = 9000
            supervision_interval_s = 90
            supervision = "periodic-test"
            failover_after = 2
            codes = { "lobby-panic" = "122", "desk" = "120" }
            """, file: "dc09.toml")
        #expect(c.primary == .init(host: "arc1.example.net", port: 12000))
        #expect(c.backup == .init(host: "::1", port: 12001))
        #expect(c.transport == .udp && c.format == .admCID)
        #expect(c.account == "ABC123" && c.receiverNumber == "1A" && c.linePrefix == "12")
        #expect(c.key == Array(0...15))
        #expect(c.ackTimeoutMilliseconds == 2500)
        #expect(c.backoff.initial == .milliseconds(200) && c.backoff.maximum == .milliseconds(9000))
        #expect(c.supervisionIntervalSeconds == 90 && c.supervision == .periodicTest && c.failoverAfter == 2)
        #expect(c.codes == ["lobby-panic": .init(alarm: "122"), "desk": .init(alarm: "120")])
    }

    @Test("an ASCII key is used as its bytes (pysiaalarm's way)")
    func asciiKey() throws {
        let c = try DC09Config.parse(toml: Self.minimal + "\nkey = \"0123456789ABCDEF\"\nkey_format = \"ascii\"", file: "dc09.toml")
        #expect(c.key == Array("0123456789ABCDEF".utf8))
    }

    @Test("SIA code overrides with and without a restore code")
    func siaCodes() throws {
        let c = try DC09Config.parse(toml: Self.minimal + "\ncodes = { \"lobby-panic\" = \"HA\", \"desk\" = \"PA/PH\" }", file: "dc09.toml")
        #expect(c.codes == ["lobby-panic": .init(alarm: "HA"), "desk": .init(alarm: "PA", restore: "PH")])
    }

    /// (extra TOML lines, the exact error text).
    static let broken: [(String, String)] = [
        ("host = \"10.0.0.1:12000\"", "dc09.toml:3: host: \"10.0.0.1:12000\" is not a host name or IP address; the port goes in its own key"),
        ("host = \"[::1]\"", "dc09.toml:3: host: \"[::1]\": write an IPv6 address without brackets (the port is a key of its own)"),
        ("host = \"bad_name.example\"", "dc09.toml:3: host: \"bad_name.example\" is not a host name or IP address (letters, digits, hyphens and dots)"),
        ("host = \"300.1.1.1\"", "dc09.toml:3: host: \"300.1.1.1\" is not a valid IPv4 address"),
        ("port = 0", "dc09.toml:4: port: must be an integer from 1 to 65535 (got 0)"),
        ("account = \"12\"", "dc09.toml:5: account: \"12\" is not allowed; 3 to 16 hex digits (0-9, A-F)"),
        ("account = \"12G4\"", "dc09.toml:5: account: \"12G4\" is not allowed; 3 to 16 hex digits (0-9, A-F)"),
        ("transport = \"tls\"", "dc09.toml:6: transport: \"tls\" is not allowed; one of: \"tcp\", \"udp\""),
        ("format = \"contact-id\"", "dc09.toml:6: format: \"contact-id\" is not allowed; one of: \"sia-dcs\", \"adm-cid\""),
        ("key = \"0123456789ABCDEF\"", "dc09.toml:6: key: needs key_format: \"hex\" (32, 48 or 64 hex digits decoded to bytes) or \"ascii\" (16, 24 or 32 characters used as bytes, as pysiaalarm does); ask the receiving centre which their receiver expects"),
        ("key_format = \"hex\"", "dc09.toml:6: key_format: given without key; give both or neither"),
        ("key = \"0123456789ABCDEF\"\nkey_format = \"hex\"", "dc09.toml:6: key: with key_format = \"hex\" the key must be 32, 48 or 64 hex digits (AES-128, -192, -256); got 16 characters"),
        ("key = \"0123456789ABCDEFGHIJ\"\nkey_format = \"ascii\"", "dc09.toml:6: key: with key_format = \"ascii\" the key must be 16, 24 or 32 printable ASCII characters (AES-128, -192, -256); got 20 characters"),
        ("key = \"0123456789ABCDEF\"\nkey_format = \"base64\"", "dc09.toml:7: key_format: \"base64\" is not allowed; one of: \"hex\", \"ascii\""),
        ("backup_host = \"127.0.0.2\"", "dc09.toml:6: backup_host: given without backup_port; give both (backup_port: an integer from 1 to 65535)"),
        ("backup_port = 12001", "dc09.toml:6: backup_port: given without backup_host; give both or neither"),
        ("failover_after = 2", "dc09.toml:6: failover_after: only meaningful with a backup receiver (backup_host and backup_port)"),
        ("receiver_number = \"1234567\"", "dc09.toml:6: receiver_number: \"1234567\" is not allowed; 1 to 6 hex digits (0-9, A-F)"),
        ("line_prefix = 1000000", "dc09.toml:6: line_prefix: 1000000 is out of range; 1 to 6 hex digits as a string (\"0\", \"1A\"), or an integer from 0 to 999999"),
        ("ack_timeout_ms = 10", "dc09.toml:6: ack_timeout_ms: must be an integer from 100 to 120000 ms (got 10)"),
        ("backoff_initial_ms = 5000\nbackoff_max_ms = 1000", "dc09.toml:7: backoff_max_ms: must be at least backoff_initial_ms (5000)"),
        ("supervision_interval_s = -1", "dc09.toml:6: supervision_interval_s: must be an integer from 0 to 86400 s (0 = no supervision messages) (got -1)"),
        ("supervision = \"ping\"", "dc09.toml:6: supervision: \"ping\" is not allowed; one of: \"null\", \"periodic-test\""),
        ("codes = { \"lobby\" = \"PANIC\" }", "dc09.toml:6: codes.lobby: \"PANIC\" is not allowed with format = \"sia-dcs\"; a two-letter SIA code for the alarm, optionally \"/\" and one for its restore (\"HA\" or \"HA/HH\")"),
        ("format = \"adm-cid\"\ncodes = { \"lobby\" = \"123\" }", "dc09.toml:7: codes.lobby: \"123\" (audible panic) is not allowed: common receivers (pysiaalarm) have no mapping for it; use \"120\""),
        ("format = \"adm-cid\"\ncodes = { \"lobby\" = \"HA\" }", "dc09.toml:7: codes.lobby: \"HA\" is not allowed with format = \"adm-cid\"; a three-digit Contact ID event code (\"120\" panic, \"121\" or \"122\" duress, \"137\" tamper); the qualifier is added when sending"),
        ("url = \"https://x\"", "dc09.toml:6: url: unknown key; allowed here: account, ack_timeout_ms, backoff_initial_ms, backoff_max_ms, backup_host, backup_port, codes, failover_after, format, host, key, key_format, line_prefix, name, port, receiver_number, supervision, supervision_interval_s, transport, type"),
    ]

    @Test("each broken destination is refused with its exact, located message", arguments: broken)
    func refused(extra: String, expected: String) {
        // Later keys replace the minimal example's, on the line they are written.
        var lines = Self.minimal.split(separator: "\n").map(String.init)
        for line in extra.split(separator: "\n") {
            let key = line.split(separator: "=")[0].trimmingCharacters(in: .whitespaces)
            if let i = lines.firstIndex(where: { $0.hasPrefix(key + " ") }) { lines[i] = String(line) } else { lines.append(String(line)) }
        }
        do {
            _ = try DC09Config.parse(toml: lines.joined(separator: "\n"), file: "dc09.toml")
            Issue.record("accepted: \(extra)")
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test("a missing host, port and account are all reported at once")
    func allMissing() {
        do {
            _ = try DC09Config.parse(toml: "name = \"arc\"\ntype = \"dc09\"\n", file: "dc09.toml")
            Issue.record("accepted an empty destination")
        } catch {
            #expect(error.errors.map(\.key) == ["host", "port", "account"])
            #expect(error.errors[0].message == "required; a host name or an IP address of the receiver")
        }
    }
}
