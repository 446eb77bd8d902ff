import Foundation

/// The reference receiver's configuration.
public struct ReceiverConfig: Sendable {
    public struct Gateway: Sendable, Equatable {
        public var id: String
        /// Base64 of raw Ed25519 public keys; several during a key rotation.
        public var publicKeys: [String]
        public init(id: String, publicKeys: [String]) {
            self.id = id
            self.publicKeys = publicKeys
        }
    }

    public var listenHost: String
    public var listenPort: Int
    /// The SQLite file (the embedded default); empty when `postgres` is set.
    public var database: String
    /// Several replicas on one PostgreSQL database (the `[postgresql]` table).
    public var postgres: Postgres?
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// A PEM bundle of CAs whose client certificates are required (mutual TLS).
    public var clientCA: String?
    /// Signatures older than this (by `created`) are refused, seconds.
    public var timeWindowSeconds: Int
    /// A gateway is silent after this many missed heartbeat intervals.
    public var silentAfterIntervals: Int
    public var gateways: [Gateway]
    /// `host:port` authorities the receiver answers for: a request signed for
    /// any other `@target-uri` authority is refused. Empty: the listen
    /// address and the loopback names, with the bound port.
    public var authorities: [String]
    public var limits: Limits
    /// The operator console under `/console` (the `[console]` table); nil: off.
    public var console: Console?

    /// The operator console (the `[console]` table).
    public struct Console: Sendable, Equatable {
        /// A session ends this long after login, hours.
        public var sessionHours = 12
        /// An unacknowledged alarm's row turns to warning, then danger, after these many seconds.
        public var warnAfterSeconds = 30
        public var dangerAfterSeconds = 60
        /// bcrypt's cost for new passwords (2^cost rounds).
        public var bcryptCost = 12
        /// Where each input is (room, floor), by gateway id and input name.
        public var locations: [String: [String: String]] = [:]
        /// Ordered steps an operator ticks off, by site ("*": every other site).
        public var actionPlans: [String: [String]] = [:]
        /// Escalation of alarms nobody acknowledged (`[console.escalation]`).
        public var escalation: Escalation?
        public init() {}

        /// `[console.escalation]`: after `afterSeconds` unacknowledged, an
        /// alarm is shown to supervisors as escalated and posted, signed, to
        /// every webhook.
        public struct Escalation: Sendable, Equatable {
            public var afterSeconds = 120
            /// The receiver's Ed25519 key for signing webhooks (created on first start).
            public var keyFile: String
            public var webhooks: [Webhook] = []
            /// Retries wait up to this long, seconds.
            public var retryMaxSeconds = 60
            public init(keyFile: String) { self.keyFile = keyFile }
        }

        /// One webhook an escalation is posted to.
        public struct Webhook: Sendable, Equatable {
            public var name: String
            public var url: String
            /// CAs for the webhook's TLS certificate (else the system's).
            public var caFile: String?
            public init(name: String, url: String, caFile: String? = nil) {
                self.name = name
                self.url = url
                self.caFile = caFile
            }
        }

        /// The action plan of a site: its own, else the default ("*"), else none.
        public func actionPlan(site: String) -> [String] { actionPlans[site] ?? actionPlans["*"] ?? [] }

        /// The location text of a gateway's input, if configured.
        public func location(gateway: String, input: String?) -> String? {
            guard let input else { return nil }
            return locations[gateway]?[input]
        }
    }

    /// Connection and request limits (the `[limits]` table).
    public struct Limits: Sendable, Equatable {
        public var maxConnections = 8_192
        public var maxPendingConnections = 4_096
        public var headerTimeoutMilliseconds = 10_000
        public var bodyTimeoutMilliseconds = 10_000
        public var idleTimeoutSeconds = 120
        public var maxBodyBytes = 65_536
        /// Signed requests per second per gateway, sustained, and the burst above it.
        public var ratePerGateway = 50
        public var burstPerGateway = 500
        /// After SIGTERM: new requests are answered 503 and `/readyz` fails
        /// for this long while requests in flight finish, seconds.
        public var drainSeconds = 2
        public init() {}
    }

    /// The PostgreSQL database replicas share (the `[postgresql]` table).
    public struct Postgres: Sendable, Equatable {
        /// A host name or address, or a directory holding the server's Unix socket.
        public var host: String
        public var port: Int
        public var user: String
        public var database: String
        /// A file holding the password (first line); none for peer or trust authentication.
        public var passwordFile: String?
        /// CAs that sign the server's certificate: TLS with full verification.
        /// Without it the connection is plain, allowed only to loopback or a socket.
        public var tlsCA: String?
        /// Connections each replica keeps at most.
        public var maxConnections: Int
        public init(host: String, port: Int = 5432, user: String, database: String, passwordFile: String? = nil, tlsCA: String? = nil, maxConnections: Int = 20) {
            self.host = host
            self.port = port
            self.user = user
            self.database = database
            self.passwordFile = passwordFile
            self.tlsCA = tlsCA
            self.maxConnections = maxConnections
        }

        /// True when `host` names a socket directory.
        public var isSocket: Bool { host.hasPrefix("/") }
    }

    public init(listenHost: String, listenPort: Int, database: String, postgres: Postgres? = nil, tlsCertificate: String?, tlsKey: String?, clientCA: String? = nil,
                timeWindowSeconds: Int = 300, silentAfterIntervals: Int = 3, gateways: [Gateway],
                authorities: [String] = [], limits: Limits = .init(), console: Console? = nil) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.database = database
        self.postgres = postgres
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.clientCA = clientCA
        self.timeWindowSeconds = timeWindowSeconds
        self.silentAfterIntervals = silentAfterIntervals
        self.gateways = gateways
        self.authorities = authorities
        self.limits = limits
        self.console = console
    }

    public static func load(path: String) throws(ConfigErrors) -> ReceiverConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors(errors: [.init(file: path, line: nil, key: nil, message: "configuration file does not exist or cannot be read")])
        }
        return try parse(bytes: [UInt8](data), file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> ReceiverConfig {
        try parse(bytes: Array(text.utf8), file: file)
    }

    /// Validates a file's bytes as TOML; `file` names it in errors.
    public static func parse(bytes: [UInt8], file: String) throws(ConfigErrors) -> ReceiverConfig {
        let (table, context) = try ReadContext.parse(bytes: bytes, file: file)
        let root = TableReader(table, path: "", context: context)
        var host = "127.0.0.1", port = 8443
        if let listen = root.string("listen", required: true, allowed: "HOST:PORT, e.g. 0.0.0.0:8443") {
            if let colon = listen.lastIndex(of: ":"), let p = Int(listen[listen.index(after: colon)...]), (0...65535).contains(p), colon != listen.startIndex {
                host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                port = p
            } else {
                root.fail("listen", "\"\(listen)\" is not HOST:PORT (e.g. 0.0.0.0:8443)")
            }
        }
        let database = root.string("database", allowed: "an absolute path to the SQLite file", check: Validate.absolutePath)
        var postgres: Postgres?
        if let t = root.table("postgresql") {
            let host = t.string("host", required: true, allowed: "a host name or address, or the directory of the server's socket")
            let port = t.int("port", range: 1...65_535) ?? 5432
            let user = t.string("user", required: true, check: Validate.identifier)
            let name = t.string("database", required: true, check: Validate.identifier)
            let password = t.string("password_file", check: Validate.readableFile)
            let ca = t.string("tls_ca", check: Validate.readableFile)
            let pool = t.int("max_connections", range: 1...500) ?? 20
            if let host, ca == nil, !host.hasPrefix("/"), !Validate.isLoopback(host) {
                t.fail("tls_ca", "required when the database is not on a loopback address or a Unix socket: the CA that signs the PostgreSQL server's certificate (the connection is verified TLS)")
            }
            t.rejectUnknownKeys()
            if let host, let user, let name {
                postgres = Postgres(host: host, port: port, user: user, database: name, passwordFile: password, tlsCA: ca, maxConnections: pool)
            }
        }
        if database != nil, root.table["postgresql"] != nil {
            root.fail("database", "give either database (one receiver on an SQLite file) or a [postgresql] table (replicas on one database), not both")
        } else if database == nil, root.table["postgresql"] == nil {
            root.fail("database", "required: an absolute path to the SQLite file, or a [postgresql] table for replicas on PostgreSQL")
        }
        let cert = root.string("tls_cert", check: Validate.readableFile)
        let key = root.string("tls_key", check: Validate.readableFile)
        let clientCA = root.string("client_ca", check: Validate.readableFile)
        if cert != nil, key == nil { root.fail("tls_cert", "given without tls_key; give both or neither") }
        if key != nil, cert == nil { root.fail("tls_key", "given without tls_cert; give both or neither") }
        if cert == nil, !Validate.isLoopback(host) {
            root.fail("listen", "without tls_cert and tls_key the receiver serves plain HTTP, which is allowed only on a loopback address")
        }
        let window = root.int("time_window_s", range: 5...86_400, unit: " s") ?? 300
        let silent = root.int("silent_after_intervals", range: 1...100) ?? 3
        var authorities: [String] = []
        if let list = root.table.array(for: "authorities") {
            for (i, item) in list.enumerated() {
                if let a = item.string, let normal = Validate.authority(a) { authorities.append(normal) }
                else { root.fail("authorities", "item \(i) must be HOST or HOST:PORT as the gateways' URLs name this receiver, e.g. \"receiver.example.org:8443\"") }
            }
        }
        root.markConsumed("authorities")
        if authorities.isEmpty, !Validate.isLoopback(host) {
            root.fail("authorities", "required when listening on a non-loopback address: the HOST:PORT names in the gateways' uplink URLs (a request signed for another receiver is refused)")
        }
        var limits = Limits()
        if let l = root.table("limits") {
            limits.maxConnections = l.int("max_connections", range: 16...1_000_000) ?? limits.maxConnections
            limits.maxPendingConnections = l.int("max_pending_connections", range: 8...1_000_000) ?? min(limits.maxPendingConnections, limits.maxConnections / 2)
            limits.headerTimeoutMilliseconds = l.int("header_timeout_ms", range: 100...120_000, unit: " ms") ?? limits.headerTimeoutMilliseconds
            limits.bodyTimeoutMilliseconds = l.int("body_timeout_ms", range: 100...120_000, unit: " ms") ?? limits.bodyTimeoutMilliseconds
            limits.idleTimeoutSeconds = l.int("idle_timeout_s", range: 1...3_600, unit: " s") ?? limits.idleTimeoutSeconds
            limits.maxBodyBytes = l.int("max_body_bytes", range: 4_096...16_777_216, unit: " bytes") ?? limits.maxBodyBytes
            limits.ratePerGateway = l.int("rate_per_gateway", range: 1...100_000, unit: " requests/s") ?? limits.ratePerGateway
            limits.burstPerGateway = l.int("burst_per_gateway", range: 1...1_000_000, unit: " requests") ?? limits.burstPerGateway
            limits.drainSeconds = l.int("drain_s", range: 0...60, unit: " s") ?? limits.drainSeconds
            if limits.maxPendingConnections > limits.maxConnections {
                l.fail("max_pending_connections", "must not exceed max_connections (\(limits.maxConnections))")
            }
            l.rejectUnknownKeys()
        }
        var console: Console?
        if let c = root.table("console") {
            var v = Console()
            v.sessionHours = c.int("session_hours", range: 1...168, unit: " h") ?? v.sessionHours
            v.warnAfterSeconds = c.int("warn_after_s", range: 1...3_600, unit: " s") ?? v.warnAfterSeconds
            v.dangerAfterSeconds = c.int("danger_after_s", range: 1...86_400, unit: " s") ?? max(v.dangerAfterSeconds, v.warnAfterSeconds * 2)
            v.bcryptCost = c.int("bcrypt_cost", range: 4...16) ?? v.bcryptCost
            if v.dangerAfterSeconds <= v.warnAfterSeconds { c.fail("danger_after_s", "must be longer than warn_after_s (\(v.warnAfterSeconds) s)") }
            for l in c.tables("locations") ?? [] {
                let gw = l.string("gateway", required: true, check: Validate.identifier)
                let input = l.string("input", required: true)
                let text = l.string("text", required: true)
                if let text, text.utf8.count > 200 { l.fail("text", "at most 200 bytes (a room and a floor, say)") }
                l.rejectUnknownKeys()
                if let gw, let input, let text {
                    if v.locations[gw]?[input] != nil { l.fail("input", "input \"\(input)\" of gateway \"\(gw)\" has a location already") }
                    else { v.locations[gw, default: [:]][input] = text }
                }
            }
            for plan in c.tables("action_plans") ?? [] {
                let site = plan.string("site", required: true, allowed: "a site's name as its gateways report it, or \"*\" for every other site")
                var steps: [String] = []
                if let list = plan.table.array(for: "steps") {
                    for (i, item) in list.enumerated() {
                        if let t = item.string, !t.isEmpty, t.utf8.count <= 300 { steps.append(t) }
                        else { plan.fail("steps", "item \(i) must be a step's text, 1 to 300 bytes") }
                    }
                }
                plan.markConsumed("steps")
                if steps.isEmpty || steps.count > 20 { plan.fail("steps", "required: 1 to 20 steps, in the order they are done") }
                plan.rejectUnknownKeys()
                if let site {
                    if v.actionPlans[site] != nil { plan.fail("site", "site \"\(site)\" has an action plan already") }
                    else { v.actionPlans[site] = steps }
                }
            }
            if let e = c.table("escalation") {
                let keyFile = e.string("key_file", required: true, allowed: "an absolute path; the key is made there on first start",
                                       check: Validate.absolutePath)
                var esc = Console.Escalation(keyFile: keyFile ?? "")
                esc.afterSeconds = e.int("after_s", range: 5...86_400, unit: " s") ?? esc.afterSeconds
                esc.retryMaxSeconds = e.int("retry_max_s", range: 1...3_600, unit: " s") ?? esc.retryMaxSeconds
                for w in e.tables("webhooks") ?? [] {
                    let name = w.string("name", required: true, check: Validate.identifier)
                    let url = w.string("url", required: true, allowed: "an http(s) URL")
                    let ca = w.string("ca_file", check: Validate.readableFile)
                    if let url {
                        let lower = url.lowercased()
                        if !(lower.hasPrefix("https://") || lower.hasPrefix("http://")) { w.fail("url", "\"\(url)\" is not an http(s) URL") }
                        else if lower.hasPrefix("http://"), let host = URLComponents(string: url)?.host, !Validate.isLoopback(host) {
                            w.fail("url", "plain http is allowed only to a loopback address; use https")
                        }
                    }
                    w.rejectUnknownKeys()
                    if let name, let url {
                        if esc.webhooks.contains(where: { $0.name == name }) { w.fail("name", "webhook \"\(name)\" is listed twice") }
                        else { esc.webhooks.append(Console.Webhook(name: name, url: url, caFile: ca)) }
                    }
                }
                e.rejectUnknownKeys()
                v.escalation = esc
            }
            c.rejectUnknownKeys()
            console = v
        }
        var gateways: [Gateway] = []
        var owner: [String: String] = [:]
        for g in root.tables("gateways") ?? [] {
            let id = g.string("id", required: true, check: Validate.identifier)
            var keys: [String] = []
            if let a = g.table.array(for: "public_keys") {
                for (i, item) in a.enumerated() {
                    if let s = item.string, let raw = Data(base64Encoded: s), raw.count == 32 {
                        // One key, one gateway: a key listed twice would silently
                        // belong to whichever came last.
                        if let first = owner[s], first != id ?? "" {
                            g.fail("public_keys", "item \(i) is already the key of gateway \"\(first)\"; each key belongs to one gateway")
                        } else if keys.contains(s) {
                            g.fail("public_keys", "item \(i) is listed twice")
                        } else {
                            keys.append(s)
                            owner[s] = id ?? ""
                        }
                    } else { g.fail("public_keys", "item \(i) must be the base64 of a 32-byte Ed25519 public key, as `panic-gateway keygen` prints it") }
                }
            }
            g.markConsumed("public_keys")
            if keys.isEmpty { g.fail("public_keys", "required; a list of base64 Ed25519 public keys") }
            g.rejectUnknownKeys()
            if let id {
                if gateways.contains(where: { $0.id == id }) { g.fail("id", "gateway \"\(id)\" is listed twice; give all its keys in one table") }
                else { gateways.append(.init(id: id, publicKeys: keys)) }
            }
        }
        if gateways.isEmpty, postgres == nil {
            root.fail("gateways", "at least one [[gateways]] table is required with an SQLite database, or nothing can be verified (with [postgresql], register gateways with `panic-receiver gateways add`)")
        }
        root.rejectUnknownKeys()
        if !context.errors.isEmpty { throw ConfigErrors(errors: context.errors) }
        return ReceiverConfig(
            listenHost: host, listenPort: port, database: database ?? "", postgres: postgres, tlsCertificate: cert, tlsKey: key, clientCA: clientCA,
            timeWindowSeconds: window, silentAfterIntervals: silent, gateways: gateways,
            authorities: authorities, limits: limits, console: console)
    }
}
