import Foundation
import PanicConfig
import PanicConsole
import PanicCore
import PanicReceiverKit
import PanicSigning
import Testing

/// A plain HTTP/1.1 answer, read off a real socket.
struct RawAnswer {
    var status: Int
    var headers: [(String, String)]
    var body: String
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    /// The session cookie's value from Set-Cookie.
    var sessionCookie: String? {
        guard let c = header("Set-Cookie"), c.hasPrefix("panic_session=") else { return nil }
        return String(c.dropFirst("panic_session=".count).prefix { $0 != ";" })
    }
}

/// Blocking socket I/O off the cooperative threads (the receiver under test
/// runs on them).
func rawHTTP(port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: String = "",
             readUntil: (@Sendable (String) -> Bool)? = nil, timeout: Double = 10) async throws -> RawAnswer {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async {
            c.resume(with: Result { try rawHTTPBlocking(port: port, method, path, headers: headers, body: body, readUntil: readUntil, timeout: timeout) })
        }
    }
}

struct RawHTTPError: Error, CustomStringConvertible { var description: String }

func rawHTTPBlocking(port: Int, _ method: String, _ path: String, headers: [String: String], body: String,
                     readUntil: ((String) -> Bool)?, timeout: Double) throws -> RawAnswer {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw RawHTTPError(description: "socket failed") }
    defer { close(fd) }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else { throw RawHTTPError(description: "connect to \(port) failed") }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (k, v) in headers { head += "\(k): \(v)\r\n" }
    if method == "POST" { head += "Content-Length: \(body.utf8.count)\r\n" }
    let request = Array((head + "\r\n" + body).utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { throw RawHTTPError(description: "send failed") }
    var data = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65_536)
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        data += buf[0..<n]
        if let readUntil, readUntil(String(decoding: data, as: UTF8.self)) { break }
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw RawHTTPError(description: "no answer head in \(text.prefix(200))") }
    let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
    let fields = lines.dropFirst().compactMap { l -> (String, String)? in
        guard let colon = l.firstIndex(of: ":") else { return nil }
        return (String(l[..<colon]), l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    return RawAnswer(status: status, headers: fields, body: String(text[split.upperBound...]))
}

/// The console over real loopback HTTP, in front of a real receiver and its
/// SQLite file; logins slowed on a clock moved by hand.
@Suite(.serialized) struct ConsoleHTTPTests {
    static func consoleConfig() -> ReceiverConfig.Console {
        var c = ReceiverConfig.Console()
        c.bcryptCost = 4
        c.locations = ["gw-test": ["btn": "Room 2.14, second floor"]]
        c.actionPlans = ["*": ["Call the embassy's security officer", "Dispatch patrol"]]
        return c
    }

    /// A receiver with a console, an operator `olga` and a supervisor `sam`.
    func start(_ clock: ManualClock = ManualClock()) async throws -> Harness {
        let h = try Harness()
        try await h.startReceiver(certs: nil, console: Self.consoleConfig(), consoleClock: clock)
        let console = try #require(h.console)
        try await console.store.addOperator(name: "olga", role: .operator, passwordHash: console.hasher.hash("olga's long password"), at: clock.wallNow())
        try await console.store.addOperator(name: "sam", role: .supervisor, passwordHash: console.hasher.hash("sam's long password!"), at: clock.wallNow())
        return h
    }

    func login(_ h: Harness, _ name: String, _ password: String) async throws -> RawAnswer {
        try await rawHTTP(port: h.port, "POST", "/console/login", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                          body: "name=\(name)&password=\(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
    }

    /// Logs in; returns the cookie header and the page's CSRF token.
    func session(_ h: Harness, _ name: String, _ password: String) async throws -> (cookie: String, csrf: String) {
        let answer = try await login(h, name, password)
        #expect(answer.status == 303)
        let token = try #require(answer.sessionCookie)
        let page = try await rawHTTP(port: h.port, "GET", "/console", headers: ["Cookie": "panic_session=\(token)"])
        let csrf = try #require(page.body.range(of: "<meta name=\"csrf\" content=\"").map { page.body[$0.upperBound...].prefix { $0 != "\"" } })
        return ("panic_session=\(token)", String(csrf))
    }

    /// A press stored through the receiver's intake, as a gateway's would be.
    func press(_ h: Harness, input: String = "btn", site: String = "test", sequence: Int64 = 1) async throws {
        let now = WallTime(nanosecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1e9))
        var a = Alert(id: AlertIDGenerator().next(at: now), gatewayID: "gw-test", site: site, sequence: sequence, kind: .panic,
                      occurredAt: now, acceptedAt: now, clockSynchronized: true)
        a.input = input
        let store = try #require(h.console?.store as? SQLiteReceiverStore)
        _ = try await store.store(a, body: try WireFormat.encode(a), keyID: "k", at: now)
    }

    @Test func aLongQueueSendsTheMostUrgentHundredRowsAndEveryIncidentAsData() async throws {
        let h = try await start()
        defer { Task { await h.stopReceiver() } }
        for n in 0..<150 { try await press(h, input: "btn-\(n)", sequence: Int64(n + 1)) }
        let (cookie, _) = try await session(h, "olga", "olga's long password")
        let page = try await rawHTTP(port: h.port, "GET", "/console", headers: ["Cookie": cookie])
        #expect(page.status == 200)
        let rows = page.body.components(separatedBy: "<tr role=\"row\" id=\"incident-").count - 1
        #expect(rows == 100, "the server writes the first 100 rows; the script draws the rest")
        let data = try #require(page.body.range(of: "<script type=\"application/json\" id=\"incidents-json\">")
            .map { page.body[$0.upperBound...].prefix { $0 != "<" } })
        let all = try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [[String: Any]]
        #expect(all?.count == 150, "every open incident is in the page's data")
        #expect(page.body.contains("<noscript><p class=\"error\">50 more open alarms"), "without the script, the page says what it cannot show")
        // In queue order: the rows the server wrote are the data's first hundred.
        let firstRow = try #require(page.body.range(of: "id=\"incident-").map { page.body[$0.upperBound...].prefix { $0 != "\"" } })
        #expect((all?.first?["id"] as? Int).map(String.init) == String(firstRow))
        await h.stopReceiver()
    }

    @Test func everyPageAndTheEventStreamAreRefusedWithoutASession() async throws {
        let h = try await start()
        defer { Task { await h.stopReceiver() } }
        for path in ["/console", "/console/audit", "/console/history", "/console/operators"] {
            let a = try await rawHTTP(port: h.port, "GET", path)
            #expect(a.status == 303 && a.header("Location") == "/console/login", "\(path): \(a.status)")
        }
        for path in ["/console/events", "/console/api/incidents", "/console/history.csv"] {
            #expect(try await rawHTTP(port: h.port, "GET", path).status == 401, "\(path)")
        }
        #expect(try await rawHTTP(port: h.port, "POST", "/console/incidents/1/acknowledge").status == 401)
        let forged = try await rawHTTP(port: h.port, "GET", "/console", headers: ["Cookie": "panic_session=forged"])
        #expect(forged.status == 303, "a made-up cookie is no session")
        await h.stopReceiver()
    }

    @Test func loginSetsAStrictHttpOnlyCookieAndPagesForbidFramingAndInlineScript() async throws {
        let h = try await start()
        let a = try await login(h, "olga", "olga's long password")
        #expect(a.status == 303 && a.header("Location") == "/console")
        let cookie = try #require(a.header("Set-Cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console") && cookie.contains("Max-Age=43200"))
        let page = try await rawHTTP(port: h.port, "GET", "/console", headers: ["Cookie": "panic_session=\(a.sessionCookie ?? "")"])
        #expect(page.status == 200)
        #expect(page.header("Content-Security-Policy")?.contains("script-src 'self'") == true)
        #expect(page.header("X-Frame-Options") == "DENY")
        #expect(page.header("X-Panic-Authenticated") == nil, "the guard's marker never leaves the receiver")
        #expect(!page.body.contains("<script>"), "no inline script")
        let wrong = try await login(h, "olga", "not her password")
        #expect(wrong.status == 401 && wrong.sessionCookie == nil)
        await h.stopReceiver()
    }

    @Test func aStateChangeWithAWrongCSRFTokenIsForbidden() async throws {
        let h = try await start()
        try await press(h)
        let (cookie, csrf) = try await session(h, "olga", "olga's long password")
        let id = try #require(try await h.console?.store.openIncidents().first?.id)
        let forged = try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/acknowledge", headers: ["Cookie": cookie, "X-CSRF-Token": "0" + csrf.dropFirst()])
        #expect(forged.status == 403)
        let none = try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/acknowledge", headers: ["Cookie": cookie])
        #expect(none.status == 403)
        #expect(try await h.console?.store.incident(id)?.state == .new, "nothing changed")
        let good = try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/acknowledge", headers: ["Cookie": cookie, "X-CSRF-Token": csrf])
        #expect(good.status == 200 && good.body.contains("\"acknowledged_by\":\"olga\""))
        let again = try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/acknowledge", headers: ["Cookie": cookie, "X-CSRF-Token": csrf])
        #expect(again.status == 409, "acknowledged already")
        let resolve = try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/resolve",
                                        headers: ["Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"],
                                        body: "disposition=nonsense")
        #expect(resolve.status == 400)
        let audit = try await h.console!.store.audit(incidentID: id, limit: 10)
        #expect(audit.map(\.action) == ["acknowledged"])
        await h.stopReceiver()
    }

    @Test func theSitesActionPlanIsTickedStepByStepAndAudited() async throws {
        let h = try await start()
        try await press(h)
        let (cookie, csrf) = try await session(h, "olga", "olga's long password")
        let id = try #require(try await h.console?.store.openIncidents().first?.id)
        let headers = ["Cookie": cookie, "X-CSRF-Token": csrf]
        let first = try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/steps/1", headers: headers)
        #expect(first.status == 200)
        #expect(first.body.contains("\"plan\":[{\"text\":\"Call the embassy's security officer\"},{\"done_at\":"))
        #expect(first.body.contains("\"done_by\":\"olga\",\"text\":\"Dispatch patrol\""))
        #expect(try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/steps/2", headers: headers).status == 404, "no third step")
        #expect(try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/steps/-1", headers: headers).status == 404)
        #expect(try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/steps/0", headers: ["Cookie": cookie]).status == 403, "CSRF")
        _ = try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/steps/1", headers: headers)
        let audit = try await h.console!.store.audit(incidentID: id, limit: 10)
        #expect(audit.map(\.action) == ["step-done"], "ticking twice is audited once")
        #expect(audit.first?.detail == "2. Dispatch patrol")
        _ = try await h.console!.store.resolve(id, by: "olga", disposition: .genuine, note: "", at: WallTime(secondsSinceEpoch: 1_796_000_100))
        #expect(try await rawHTTP(port: h.port, "POST", "/console/incidents/\(id)/steps/0", headers: headers).status == 409, "resolved: closed")
        await h.stopReceiver()
    }

    @Test func markupInASiteOrInputNameIsShownAsText() async throws {
        let h = try await start()
        try await press(h, input: "<script>alert(1)</script>", site: "<img src=x onerror=alert(2)>")
        let (cookie, _) = try await session(h, "olga", "olga's long password")
        let page = try await rawHTTP(port: h.port, "GET", "/console", headers: ["Cookie": cookie])
        #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!page.body.contains("<script>alert(1)"))
        #expect(!page.body.contains("<img src=x"))
        #expect(!page.body.contains("</script>alert"), "nothing leaves the JSON data block")
        let csv = try await rawHTTP(port: h.port, "GET", "/console/history.csv", headers: ["Cookie": cookie])
        #expect(csv.status == 200 && csv.body.contains("<script>alert(1)</script>"), "CSV is data, not markup")
        await h.stopReceiver()
    }

    @Test func anOperatorCannotManageAccountsButASupervisorCan() async throws {
        let h = try await start()
        let olga = try await session(h, "olga", "olga's long password")
        #expect(try await rawHTTP(port: h.port, "GET", "/console/operators", headers: ["Cookie": olga.cookie]).status == 403)
        let add = "csrf=\(olga.csrf)&name=eve&role=supervisor&password=eve%27s+long+password"
        let refused = try await rawHTTP(port: h.port, "POST", "/console/operators", headers: ["Cookie": olga.cookie, "Content-Type": "application/x-www-form-urlencoded"], body: add)
        #expect(refused.status == 403)
        #expect(try await h.console!.store.operators().map(\.name) == ["olga", "sam"])
        let sam = try await session(h, "sam", "sam's long password!")
        #expect(try await rawHTTP(port: h.port, "GET", "/console/operators", headers: ["Cookie": sam.cookie]).status == 200)
        let added = try await rawHTTP(port: h.port, "POST", "/console/operators", headers: ["Cookie": sam.cookie, "Content-Type": "application/x-www-form-urlencoded"],
                                      body: "csrf=\(sam.csrf)&name=eve&role=operator&password=eve%27s+long+password")
        #expect(added.status == 200)
        #expect(try await h.console!.store.operators().map(\.name) == ["eve", "olga", "sam"])
        await h.stopReceiver()
    }

    @Test func twentyBadPasswordsInARowAreSlowedDownEvenForTheRightOne() async throws {
        let clock = ManualClock()
        let h = try await start(clock)
        var statuses: [Int] = []
        for _ in 0..<20 { statuses.append(try await login(h, "olga", "guess").status) }
        #expect(statuses.prefix(6).allSatisfy { $0 == 401 }, "\(statuses)")
        #expect(statuses.suffix(14).allSatisfy { $0 == 429 }, "\(statuses)")
        let blocked = try await login(h, "olga", "olga's long password")
        #expect(blocked.status == 429 && blocked.sessionCookie == nil, "the right password waits too")
        #expect(blocked.header("Retry-After") == "1")
        clock.advance(by: .seconds(2))
        let after = try await login(h, "olga", "olga's long password")
        #expect(after.status == 303 && after.sessionCookie != nil)
        #expect(try await login(h, "sam", "sam's long password!").status == 303, "another operator was never held up")
        await h.stopReceiver()
    }

    @Test func theEventStreamPushesANewAlarmAndItsAcknowledgement() async throws {
        let h = try await start()
        let (cookie, csrf) = try await session(h, "olga", "olga's long password")
        let cursor = try await h.console!.store.lastIncidentChange()
        let port = h.port
        async let stream = rawHTTP(port: port, "GET", "/console/events?after=\(cursor)", headers: ["Cookie": cookie],
                                   readUntil: { $0.contains("\"state\":\"acknowledged\"") }, timeout: 10)
        try await Task.sleep(for: .milliseconds(300))
        try await press(h)
        let id = try #require(try await h.console?.store.openIncidents().first?.id)
        _ = try await rawHTTP(port: port, "POST", "/console/incidents/\(id)/acknowledge", headers: ["Cookie": cookie, "X-CSRF-Token": csrf])
        let events = try await stream
        #expect(events.status == 200 && events.header("Content-Type") == "text/event-stream")
        #expect(events.body.contains("event: incident\ndata: {"))
        #expect(events.body.contains("\"location\":\"Room 2.14, second floor\""), "the input's configured location")
        #expect(events.body.contains("\"state\":\"new\"") && events.body.contains("\"state\":\"acknowledged\""))
        await h.stopReceiver()
    }

    @Test func aDrainingReceiverEndsItsEventStreamsAtOnce() async throws {
        let h = try await start()
        let (cookie, _) = try await session(h, "olga", "olga's long password")
        let port = h.port
        // Reads until the receiver closes the stream (or 30 s pass).
        async let stream = rawHTTP(port: port, "GET", "/console/events", headers: ["Cookie": cookie], timeout: 30)
        try await Task.sleep(for: .milliseconds(300))
        let started = Date()
        await h.stopReceiver()
        let answer = try await stream
        let waited = Date().timeIntervalSince(started)
        #expect(answer.status == 200)
        // Before the fix the stream sat in its 15 s keep-alive wait and held
        // the shutdown that long; now: the 2 s drain and at most 1 s more.
        #expect(waited < 8, "shutdown took \(waited) s with an event stream open")
    }
}
