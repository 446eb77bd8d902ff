import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PanicConfig
import PanicCore
import PanicReceiverKit

/// The operator console under `/console`, on the receiver's own listener
/// (and so its TLS): login, the live alarm queue, acknowledge and resolve,
/// history and the audit log. Every page and the event stream need a
/// session; every state change also needs the session's CSRF token.
public final class OperatorConsole: Sendable {
    public let store: any ConsoleStore
    public let config: ReceiverConfig.Console
    public let hasher: PasswordHasher
    /// Cookies marked Secure: the receiver serves TLS.
    public let secure: Bool
    let clock: any GatewayClock
    let throttle = Locked(LoginThrottle())
    let drain: DrainGate
    let logger: Logger

    public init(store: any ConsoleStore, config: ReceiverConfig.Console, secure: Bool, drain: DrainGate, clock: any GatewayClock, logger: Logger) {
        self.store = store
        self.config = config
        self.secure = secure
        self.drain = drain
        self.clock = clock
        self.logger = logger
        hasher = PasswordHasher(cost: config.bcryptCost)
    }

    // MARK: Requests

    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    static let maxForm = 16 * 1024

    /// The session of a request's cookie, if it is one and still valid.
    func session(_ request: Request) async throws -> (ConsoleSession, String)? {
        guard let token = request.cookies[SessionToken.cookieName]?.value, !token.isEmpty, token.utf8.count <= 128 else { return nil }
        let digest = SessionToken.digest(token)
        guard let s = try await store.session(tokenHash: digest, now: clock.wallNow()) else { return nil }
        return (s, digest)
    }

    /// Whether a change carries the session's CSRF token (the header the
    /// script sends, or the form field a plain form posts).
    static func carriesToken(_ request: Request, _ form: [String: String], of session: ConsoleSession) -> Bool {
        SessionToken.same(request.headers[csrfHeader] ?? form["csrf"] ?? "", session.csrfToken)
    }

    /// The form of a POST body (at most 16 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let buffer = try await request.body.collect(upTo: maxForm)
        return FormFields.parse(String(buffer: buffer))
    }

    /// Refuses a POST from another site (a browser says so in
    /// Sec-Fetch-Site; an Origin that is not ours says the same).
    static func crossSite(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site == "cross-site" { return true }
        if let origin = request.headers[HTTPField.Name("Origin")!], origin != "null", let authority = request.head.authority {
            return !(origin == "https://\(authority)" || origin == "http://\(authority)")
        }
        return false
    }

    // MARK: Responses

    /// The headers every console answer carries: no caching, no framing, no
    /// inline script, no sniffing, no referrer.
    static func headers(_ contentType: String) -> HTTPFields {
        var h: HTTPFields = [.contentType: contentType, .cacheControl: "no-store"]
        h[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        h[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        h[HTTPField.Name("X-Frame-Options")!] = "DENY"
        h[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return h
    }

    static func page(_ html: String, status: HTTPResponse.Status = .ok, signedIn: Bool = true, extra: HTTPFields = [:]) -> Response {
        var h = headers("text/html; charset=utf-8")
        // The connection guard keeps a signed-in operator's connection when
        // a flood of unknown clients arrives (it strips this field).
        if signedIn { h[ConnectionGuard.sessionMarker] = "1" }
        h.append(contentsOf: extra)
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var h = headers("application/json")
        h[ConnectionGuard.sessionMarker] = "1"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) -> Response {
        var h = headers("application/json")
        if let retryAfter { h[.retryAfter] = String(retryAfter) }
        let body = (try? String(decoding: JSONSerialization.data(withJSONObject: ["error": message]), as: UTF8.self)) ?? "{}"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body + "\n")))
    }

    static func redirect(_ to: String, extra: HTTPFields = [:]) -> Response {
        var h = headers("text/plain")
        h[.location] = to
        h.append(contentsOf: extra)
        return Response(status: .seeOther, headers: h)
    }

    func views(_ incidents: [Incident]) -> [IncidentView] { incidents.map { IncidentView($0, console: config) } }
}
