import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import PanicConfig
import PanicCore
import PanicSigning

/// Posts signed JSON to one receiver over HTTPS (or HTTP to loopback) with
/// certificate verification always on.
public final class HTTPSTransport: Sendable {
    /// The first receiver URL.
    public var baseURL: String { baseURLs[0] }
    /// Every receiver URL, in the order the uplink names them.
    public let baseURLs: [String]
    private let client: HTTPClient
    private let signer: SignerBox
    private let requestTimeout: TimeAmount

    public init(config: UplinkConfig, signer: SignerBox) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let ca = config.caFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        }
        if let cert = config.clientCertificate, let key = config.clientKey {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        var cfg = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: .milliseconds(Int64(config.connectTimeoutMilliseconds)),
                           read: .milliseconds(Int64(config.requestTimeoutMilliseconds))))
        cfg.connectionPool = .init(idleTimeout: .seconds(120))
        cfg.httpVersion = .http1Only
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: cfg)
        self.signer = signer
        self.baseURLs = config.urls.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.requestTimeout = .milliseconds(Int64(config.requestTimeoutMilliseconds))
    }

    /// Signs `body` with `created` (Unix seconds) and posts it to `path`: the
    /// outcome, and the receiver's `server_time` when it refused the
    /// signature's time and said what its clock reads (range-checked), and
    /// the answer's body (at most 256 KiB, for a batch's per-alert results).
    public func send(
        path: String, body: [UInt8], nonce: String, created now: Int64, to base: Int = 0, contentType: String = "application/json"
    ) async -> (HTTPOutcome, Int64?, ByteBuffer) {
        let target = baseURLs[min(max(base, 0), baseURLs.count - 1)] + path
        let headers: SignatureHeaders
        do {
            headers = try signer.current.sign(method: "POST", targetURI: target, contentType: contentType, body: body, created: now, nonce: nonce)
        } catch {
            return (.failed(reason: "signing failed: \(error)"), nil, ByteBuffer())
        }
        var request = HTTPClientRequest(url: target)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "Content-Digest", value: headers.contentDigest)
        request.headers.add(name: "Signature-Input", value: headers.signatureInput)
        request.headers.add(name: "Signature", value: headers.signature)
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: requestTimeout)
            let text = try await response.body.collect(upTo: 256 * 1024)
            var serverTime: Int64?
            if response.status.code == 401,
               let object = try? JSONSerialization.jsonObject(with: Data(buffer: text)) as? [String: Any],
               let t = object["server_time"] as? String, let seconds = Int64(t), Self.acceptedServerTime.contains(seconds) {
                // Range-checked as it is decoded: whatever terminates TLS for
                // the receiver must not be able to crash the gateway.
                serverTime = seconds
            }
            return (HTTPOutcome.classify(status: Int(response.status.code), body: String(buffer: text), retryAfter: response.headers.first(name: "Retry-After")), serverTime, text)
        } catch {
            return (.failed(reason: Self.describe(error)), nil, ByteBuffer())
        }
    }

    /// A receiver's `server_time` outside this (Unix seconds, 2000–2200) is ignored.
    static let acceptedServerTime: ClosedRange<Int64> = 946_684_800...7_258_118_400

    /// Names transport errors in words an operator can act on.
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") { return "connect timeout" }
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if error is NIOSSLError || text.contains("handshakeFailed") || text.contains("certificate") {
            return "TLS failure (certificate not trusted or handshake refused): \(text)"
        }
        return text
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}

/// The signer in use, swappable when the key rotates; shared by every uplink.
public final class SignerBox: @unchecked Sendable {
    private let signer: Locked<MessageSigner>
    public init(_ signer: MessageSigner) { self.signer = Locked(signer) }
    public var current: MessageSigner {
        get { signer.value }
        set { signer.value = newValue }
    }
}
