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
    public var database: String
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// A PEM bundle of CAs whose client certificates are required (mutual TLS).
    public var clientCA: String?
    /// Signatures older than this (by `created`) are refused, seconds.
    public var timeWindowSeconds: Int
    /// A gateway is silent after this many missed heartbeat intervals.
    public var silentAfterIntervals: Int
    public var gateways: [Gateway]

    public init(listenHost: String, listenPort: Int, database: String, tlsCertificate: String?, tlsKey: String?, clientCA: String? = nil,
                timeWindowSeconds: Int = 300, silentAfterIntervals: Int = 3, gateways: [Gateway]) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.database = database
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.clientCA = clientCA
        self.timeWindowSeconds = timeWindowSeconds
        self.silentAfterIntervals = silentAfterIntervals
        self.gateways = gateways
    }

    public static func load(path: String) throws(ConfigErrors) -> ReceiverConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors(errors: [.init(file: path, line: nil, key: nil, message: "configuration file does not exist or cannot be read")])
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> ReceiverConfig {
        let (table, context) = try ReadContext.parse(text, file: file)
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
        let database = root.string("database", required: true, allowed: "an absolute path to the SQLite file", check: Validate.absolutePath)
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
        var gateways: [Gateway] = []
        for g in root.tables("gateways") ?? [] {
            let id = g.string("id", required: true, check: Validate.identifier)
            var keys: [String] = []
            if let a = g.table.array(for: "public_keys") {
                for (i, item) in a.enumerated() {
                    if let s = item.string, let raw = Data(base64Encoded: s), raw.count == 32 { keys.append(s) }
                    else { g.fail("public_keys", "item \(i) must be the base64 of a 32-byte Ed25519 public key, as `panic-gateway keygen` prints it") }
                }
            }
            g.markConsumed("public_keys")
            if keys.isEmpty { g.fail("public_keys", "required; a list of base64 Ed25519 public keys") }
            g.rejectUnknownKeys()
            if let id { gateways.append(.init(id: id, publicKeys: keys)) }
        }
        if gateways.isEmpty { root.fail("gateways", "at least one [[gateways]] table is required, or nothing can be verified") }
        root.rejectUnknownKeys()
        if !context.errors.isEmpty { throw ConfigErrors(errors: context.errors) }
        return ReceiverConfig(
            listenHost: host, listenPort: port, database: database!, tlsCertificate: cert, tlsKey: key, clientCA: clientCA,
            timeWindowSeconds: window, silentAfterIntervals: silent, gateways: gateways)
    }
}
