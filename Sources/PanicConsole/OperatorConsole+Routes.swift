import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PanicCore
import PanicReceiverKit

extension OperatorConsole {
    /// Adds the console's routes to the receiver's router.
    public func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/console/console.js") { _, _ in
            Response(status: .ok, headers: Self.headers("text/javascript; charset=utf-8"), body: .init(byteBuffer: ByteBuffer(string: ConsoleAssets.script)))
        }
        router.get("/console/console.css") { _, _ in
            Response(status: .ok, headers: Self.headers("text/css; charset=utf-8"), body: .init(byteBuffer: ByteBuffer(string: ConsoleAssets.style)))
        }
        router.get("/console/login") { [self] request, _ in
            if try await session(request) != nil { return Self.redirect("/console") }
            return Self.page(Pages.login(error: nil), signedIn: false)
        }
        router.post("/console/login") { [self] request, _ in try await login(request) }
        router.post("/console/logout") { [self] request, _ in
            guard let (s, digest) = try await session(request) else { return Self.redirect("/console/login") }
            guard Self.carriesToken(request, try await Self.form(request), of: s) else { return Self.error(.forbidden, "wrong or missing CSRF token") }
            try await store.endSession(tokenHash: digest)
            try await store.appendAudit(operatorName: s.operatorName, incidentID: nil, action: "logout", detail: "", at: clock.wallNow())
            return Self.redirect("/console/login", extra: [.setCookie: SessionToken.clearing(secure: secure)])
        }
        router.get("/console") { [self] request, _ in
            guard let (s, _) = try await session(request) else { return Self.redirect("/console/login") }
            // The cursor first: a change committed while the page is built
            // is sent again by the stream rather than missed.
            let cursor = try await store.lastIncidentChange()
            let open = try await store.openIncidents()
            return Self.page(Pages.queue(views(open), session: s, cursor: cursor, console: config))
        }
        router.get("/console/events") { [self] request, _ in try await events(request) }
        router.get("/console/api/incidents") { [self] request, _ in
            guard try await session(request) != nil else { return Self.error(.unauthorized, "log in first") }
            let list = views(try await store.openIncidents()).map(\.json).joined(separator: ",")
            return Self.json("[\(list)]")
        }
        router.post("/console/incidents/:id/acknowledge") { [self] request, context in
            try await change(request, context) { [self] id, s, _ in try await store.acknowledge(id, by: s.operatorName, at: clock.wallNow()) }
        }
        router.post("/console/incidents/:id/resolve") { [self] request, context in
            try await change(request, context) { [self] id, s, form in
                guard let d = form["disposition"].flatMap(Disposition.init(rawValue:)) else {
                    throw ConsoleError.invalidDisposition(form["disposition"] ?? "")
                }
                return try await store.resolve(id, by: s.operatorName, disposition: d, note: form["note"] ?? "", at: clock.wallNow())
            }
        }
        router.post("/console/incidents/:id/steps/:step") { [self] request, context in
            try await change(request, context) { [self] id, s, _ in
                guard let incident = try await store.incident(id) else { throw ConsoleError.unknownIncident(id) }
                let plan = config.actionPlan(site: incident.site)
                let n = context.parameters.get("step").flatMap { Int($0) } ?? -1
                guard plan.indices.contains(n) else { throw ConsoleError.unknownStep(id, n) }
                return try await store.completeStep(id, step: n, text: plan[n], by: s.operatorName, at: clock.wallNow())
            }
        }
        router.get("/console/audit") { [self] request, _ in
            guard let (s, _) = try await session(request) else { return Self.redirect("/console/login") }
            return Self.page(Pages.audit(try await store.audit(incidentID: nil, limit: 1_000), session: s))
        }
        router.get("/console/history") { [self] request, _ in
            guard let (s, _) = try await session(request) else { return Self.redirect("/console/login") }
            let (site, gateway) = Self.filters(request)
            let list = try await store.history(site: site, gatewayID: gateway, limit: 1_000)
            return Self.page(Pages.history(views(list), session: s, site: site, gateway: gateway))
        }
        router.get("/console/history.csv") { [self] request, _ in
            guard try await session(request) != nil else { return Self.error(.unauthorized, "log in first") }
            let (site, gateway) = Self.filters(request)
            let list = try await store.history(site: site, gatewayID: gateway, limit: 100_000)
            var h = Self.headers("text/csv; charset=utf-8")
            h[.contentDisposition] = "attachment; filename=\"incidents.csv\""
            h[ConnectionGuard.sessionMarker] = "1"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: IncidentCSV.render(views(list)))))
        }
        router.get("/console/operators") { [self] request, _ in
            guard let (s, _) = try await session(request) else { return Self.redirect("/console/login") }
            guard s.role == .supervisor else { return Self.error(.forbidden, "only a supervisor manages operators") }
            return Self.page(Pages.operators(try await store.operators(), session: s, message: nil))
        }
        router.post("/console/operators") { [self] request, _ in try await addOperator(request) }
    }

    static func filters(_ request: Request) -> (String?, String?) {
        // Decoded as a form is: the history form sends "Embassy A" as
        // `site=Embassy+A`, and the query parameters leave the '+' a '+'.
        let q = FormFields.parse(request.uri.query ?? "")
        let site = q["site"].flatMap { $0.isEmpty ? nil : String($0.prefix(200)) }
        let gateway = q["gateway"].flatMap { $0.isEmpty ? nil : String($0.prefix(200)) }
        return (site, gateway)
    }

    // MARK: Login

    func login(_ request: Request) async throws -> Response {
        if Self.crossSite(request) { return Self.error(.forbidden, "a login from another site is refused") }
        let form = try await Self.form(request)
        let name = String((form["name"] ?? "").prefix(64)), password = form["password"] ?? ""
        let now = clock.monotonicNow()
        if let wait = throttle.mutate({ $0.waitBefore(name, now: now) }) {
            let seconds = Int((wait.value + 999_999_999) / 1_000_000_000)
            logger.warning("console login refused: too many failures", metadata: ["operator": "\(name.escapingControlCharacters)"])
            return Self.page(Pages.login(error: "Too many failed logins for this name: wait \(seconds) s and try again."),
                             status: .tooManyRequests, signedIn: false, extra: [.retryAfter: String(seconds)])
        }
        let found = password.utf8.count <= 200 ? try await store.credentials(of: name) : nil
        guard let verified = await hasher.verify(password, hash: found?.passwordHash) else {
            return Self.page(Pages.login(error: "The console is busy checking other logins; try again in a second."), status: .serviceUnavailable,
                             signedIn: false, extra: [.retryAfter: "1"])
        }
        guard verified, let who = found, who.enabled else {
            throttle.mutate { $0.failed(name, now: clock.monotonicNow()) }
            logger.warning("console login failed", metadata: ["operator": "\(name.escapingControlCharacters)"])
            return Self.page(Pages.login(error: "Wrong name or password."), status: .unauthorized, signedIn: false)
        }
        throttle.mutate { $0.succeeded(name) }
        let token = SessionToken.random()
        let maxAge = config.sessionHours * 3_600
        let wall = clock.wallNow()
        try await store.createSession(tokenHash: SessionToken.digest(token), operatorName: who.name, csrfToken: SessionToken.random(),
                                      expiresAt: wall + .seconds(Int64(maxAge)), at: wall)
        logger.notice("operator logged in", metadata: ["operator": "\(who.name)"])
        return Self.redirect("/console", extra: [.setCookie: SessionToken.cookie(token, maxAge: maxAge, secure: secure)])
    }

    // MARK: Changes

    /// A state change: a session, its CSRF token (header or form field), and a
    /// known incident; the answer is the incident as it is now.
    func change(_ request: Request, _ context: BasicRequestContext,
                _ body: @escaping (Int64, ConsoleSession, [String: String]) async throws -> Incident) async throws -> Response {
        guard let (s, _) = try await session(request) else { return Self.error(.unauthorized, "log in first") }
        let form = try await Self.form(request)
        guard Self.carriesToken(request, form, of: s) else { return Self.error(.forbidden, "wrong or missing CSRF token") }
        guard let raw = context.parameters.get("id"), let id = Int64(raw), id > 0 else { return Self.error(.notFound, "no such incident") }
        do {
            let incident = try await body(id, s, form)
            return Self.json(IncidentView(incident, console: config).json)
        } catch let e as ConsoleError {
            switch e {
            case .unknownIncident, .unknownStep: return Self.error(.notFound, e.description)
            case .wrongState: return Self.error(.conflict, e.description)
            default: return Self.error(.badRequest, e.description)
            }
        }
    }

    func addOperator(_ request: Request) async throws -> Response {
        guard let (s, _) = try await session(request) else { return Self.redirect("/console/login") }
        let form = try await Self.form(request)
        guard Self.carriesToken(request, form, of: s) else { return Self.error(.forbidden, "wrong or missing CSRF token") }
        guard s.role == .supervisor else { return Self.error(.forbidden, "only a supervisor manages operators") }
        let name = form["name"] ?? "", password = form["password"] ?? ""
        let role = form["role"].flatMap(OperatorRole.init(rawValue:)) ?? .operator
        var message: String?
        if let problem = PasswordRule.problem(password) {
            message = problem
        } else {
            do {
                try await store.addOperator(name: name, role: role, passwordHash: hasher.hash(password), at: clock.wallNow())
                try await store.appendAudit(operatorName: s.operatorName, incidentID: nil, action: "operator-added-by", detail: name, at: clock.wallNow())
            } catch let e as ConsoleError { message = e.description }
        }
        return Self.page(Pages.operators(try await store.operators(), session: s, message: message), status: message == nil ? .ok : .badRequest)
    }

    // MARK: The event stream

    /// Server-Sent Events: every incident changed after the cursor (the
    /// page's, or Last-Event-ID on a reconnect), then each change as it is
    /// committed; a comment after 15 quiet seconds keeps proxies from closing it. Ends
    /// when the session does (checked at each keep-alive) or the receiver drains.
    func events(_ request: Request) async throws -> Response {
        guard let (first, digest) = try await session(request) else { return Self.error(.unauthorized, "log in first") }
        let lastID = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int64($0) }
        let asked = lastID ?? request.uri.queryParameters.get("after").flatMap { Int64($0) }
        let after: Int64
        if let asked { after = asked } else { after = try await store.lastIncidentChange() }
        var h = Self.headers("text/event-stream")
        h[ConnectionGuard.sessionMarker] = "1"
        h[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let store = self.store, drain = self.drain, clock = self.clock, config = self.config
        let signal = store.incidentChanges
        let name = first.operatorName
        return Response(status: .ok, headers: h, body: .init { writer in
            var cursor = max(0, after)
            var quiet = 0
            try await writer.write(ByteBuffer(string: "retry: 1000\n: stream for \(name)\n\n"))
            while !Task.isCancelled && !drain.isDraining {
                let seen = signal.current
                let changed = try await store.incidents(changedAfter: cursor, limit: 200)
                if !changed.isEmpty {
                    var out = ""
                    for i in changed {
                        out += "id: \(i.change)\nevent: incident\ndata: \(IncidentView(i, console: config).json)\n\n"
                        cursor = i.change
                    }
                    try await writer.write(ByteBuffer(string: out))
                    if changed.count == 200 { continue }
                }
                // Waits of a second, so a draining receiver ends its streams
                // at once (the browser reconnects, to another replica or the
                // restarted one) instead of after the keep-alive interval.
                if await signal.wait(after: seen, timeout: .seconds(1)) == seen {
                    quiet += 1
                    if quiet >= 15 {
                        quiet = 0
                        guard try await store.session(tokenHash: digest, now: clock.wallNow()) != nil else { break }
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    }
                }
            }
            try await writer.finish(nil)
        })
    }
}

/// What a new password must be.
public enum PasswordRule {
    /// nil when acceptable; else what is wrong, in words for the one typing it.
    public static func problem(_ password: String) -> String? {
        let n = password.utf8.count
        if n < 12 { return "the password is \(n) bytes; at least 12" }
        // bcrypt reads 72 bytes: a longer password would not be what is checked.
        if n > 72 { return "the password is \(n) bytes; at most 72 (bcrypt reads no further)" }
        return nil
    }
}

/// History as CSV: one incident per line, fields quoted where needed; a
/// field that a spreadsheet would run as a formula is prefixed with '.
enum IncidentCSV {
    static let header = "id,occurred_at,received_at,site,gateway,input,kind,test,presses,state,acknowledged_by,acknowledged_at,resolved_by,resolved_at,disposition,note"

    static func render(_ list: [IncidentView]) -> String {
        var out = header + "\r\n"
        for i in list {
            let fields: [String] = [String(i.id), i.occurredAt, i.receivedAt, i.site, i.gatewayID, i.input ?? "", i.kind, i.test ? "yes" : "no",
                                    String(i.presses), i.state, i.acknowledgedBy ?? "", i.acknowledgedAt ?? "", i.resolvedBy ?? "",
                                    i.resolvedAt ?? "", i.disposition ?? "", i.note ?? ""]
            out += fields.map(field).joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func field(_ s: String) -> String {
        var v = s
        if let c = v.first, "=+-@\t\r".contains(c) { v = "'" + v }
        if v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return v
    }
}
