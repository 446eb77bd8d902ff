import Foundation
import PanicConfig
import Testing

@Suite("Receiver configuration under hostile or careless input")
struct ReceiverConfigTests {
    static let keyA = Data(repeating: 1, count: 32).base64EncodedString()
    static let keyB = Data(repeating: 2, count: 32).base64EncodedString()

    func parse(_ text: String) -> Result<ReceiverConfig, ConfigErrors> {
        Result { () throws(ConfigErrors) in try ReceiverConfig.parse(text, file: "r.toml") }
    }

    @Test("one public key under two gateways is refused: it would silently belong to the last (#11.15)")
    func keyUnderTwoGateways() {
        let text = """
            listen = "127.0.0.1:8443"
            database = "/tmp/r.db"
            [[gateways]]
            id = "gw-1"
            public_keys = ["\(Self.keyA)"]
            [[gateways]]
            id = "gw-2"
            public_keys = ["\(Self.keyB)", "\(Self.keyA)"]
            """
        guard case .failure(let e) = parse(text) else { Issue.record("accepted"); return }
        #expect(e.description.contains("already the key of gateway \"gw-1\""))
    }

    @Test("plain HTTP on an address that merely starts with 127. is refused (#11.9)")
    func loopbackByPrefix() {
        #expect(Validate.isLoopback("127.0.0.1") && Validate.isLoopback("127.255.1.2") && Validate.isLoopback("::1") && Validate.isLoopback("[::1]"))
        #expect(Validate.isLoopback("localhost") && Validate.isLoopback("LOCALHOST"))
        for host in ["127.attacker.example", "127.0.0.1.nip.io", "1127.0.0.1", "::2", "0.0.0.0", "128.0.0.1", "localhost.example", ""] {
            #expect(!Validate.isLoopback(host), "\(host)")
        }
        #expect(Validate.uplinkURL("http://127.attacker.example:8080") != nil)
        #expect(Validate.uplinkURL("http://127.0.0.1:8080") == nil)
        let text = """
            listen = "127.attacker.example:8443"
            database = "/tmp/r.db"
            [[gateways]]
            id = "gw-1"
            public_keys = ["\(Self.keyA)"]
            """
        guard case .failure(let e) = parse(text) else { Issue.record("accepted"); return }
        #expect(e.description.contains("loopback"))
    }

    @Test("a receiver on a public address must name its authorities; limits are range-checked (#11.2, #11.11)")
    func authoritiesAndLimits() throws {
        let base = """
            listen = "0.0.0.0:8443"
            database = "/tmp/r.db"
            tls_cert = "/etc/hostname"
            tls_key = "/etc/hostname"
            """
        let gateways = "\n[[gateways]]\nid = \"gw-1\"\npublic_keys = [\"\(Self.keyA)\"]\n"
        guard case .failure(let e) = parse(base + gateways) else { Issue.record("accepted"); return }
        #expect(e.description.contains("authorities: required"))
        let ok = try parse(base + "\nauthorities = [\"Receiver.Example.org:8443\", \"backup.example.org\"]\n[limits]\nmax_connections = 100\nmax_pending_connections = 50\nheader_timeout_ms = 500\n" + gateways).get()
        #expect(ok.authorities == ["receiver.example.org:8443", "backup.example.org:443"])
        #expect(ok.limits.maxConnections == 100 && ok.limits.maxPendingConnections == 50 && ok.limits.headerTimeoutMilliseconds == 500)
        guard case .failure(let e2) = parse(base + "\nauthorities = [\"a:1\"]\n[limits]\nmax_connections = 100\nmax_pending_connections = 200\nfoo = 1\n" + gateways) else {
            Issue.record("accepted"); return
        }
        #expect(e2.description.contains("max_pending_connections: must not exceed"))
        #expect(e2.description.contains("limits.foo: unknown key"))
    }

    @Test("authorities are parsed, not matched by prefix")
    func authorityParsing() {
        #expect(Validate.authority("Host:8443") == "host:8443")
        #expect(Validate.authority("host") == "host:443")
        #expect(Validate.authority("[::1]:9") == "[::1]:9")
        for bad in ["", "a:b", "a:0", "a:70000", "a/b", "u@h", "a::1", "[::1", "a b"] {
            #expect(Validate.authority(bad) == nil, "\(bad)")
        }
    }
}

@Suite("Configuration errors always carry a line")
struct LocatedConfigErrorTests {
    @Test("invalid UTF-8 is reported with its line, not as an unreadable file (#11.14)")
    func invalidUTF8() {
        var bytes = Array("gateway_id = \"gw-1\"\nsite = \"Test site\"\n".utf8)
        bytes += Array("state_dir = \"/var/lib/".utf8) + [0xFF, 0xFE] + Array("\"\n".utf8)
        do {
            _ = try GatewayConfig.parse(bytes: bytes, file: "g.toml")
            Issue.record("accepted")
        } catch {
            #expect(error.errors.first?.line == 3, "\(error)")
            #expect(error.description.contains("UTF-8"))
        }
    }

    @Test("toml++'s aborting inputs are located syntax errors for both loaders (#11.5)")
    func strayBrackets() {
        for text in ["[", "[&a]", "[.a]", "[[", "a.=1", "[a.b", "x = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["] {
            do {
                _ = try GatewayConfig.parse(text, file: "g.toml")
                Issue.record("gateway accepted \(text)")
            } catch {
                #expect(error.errors.first?.line == 1, "\(text): \(error)")
            }
            #expect(throws: ConfigErrors.self) { try ReceiverConfig.parse(text, file: "r.toml") }
        }
    }
}
