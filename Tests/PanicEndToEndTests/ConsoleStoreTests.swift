import Foundation
import PanicConfig
import PanicConsole
import PanicCore
import PanicReceiverKit
import Testing

/// The console's incidents, operators, sessions and audit log in the
/// receiver's store — SQLite and PostgreSQL alike — driven with alerts and
/// times by hand.
@Suite struct ConsoleStoreTests {
    let t0 = WallTime(secondsSinceEpoch: 1_796_000_000)

    func alert(_ seq: Int64, _ kind: AlertKind = .panic, input: String? = "btn", restores: AlertKind? = nil, at offset: Int64 = 0) -> Alert {
        var a = Alert(id: "alert-\(seq)", gatewayID: "gw-1", site: "Embassy A", sequence: seq, kind: kind,
                      occurredAt: t0 + .seconds(offset), acceptedAt: t0 + .seconds(offset), clockSynchronized: true)
        a.input = input
        a.zone = 7
        a.restores = restores
        return a
    }

    func put(_ s: any ReceiverStore, _ a: Alert) async throws {
        _ = try await s.store(a, body: try WireFormat.encode(a), keyID: "k", at: a.occurredAt + .milliseconds(5))
    }

    @Test(arguments: ReceiverEngine.allCases) func pressRestoreAndRepeatedPressesAreOneIncident(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            try await put(s, alert(1))
            try await put(s, alert(2, .restore, restores: .panic, at: 1))
            var open = try await s.openIncidents()
            #expect(open.count == 1)
            #expect(open.first?.restoredAt == t0 + .seconds(1))
            try await put(s, alert(3, at: 2))
            try await put(s, alert(4, at: 3))
            open = try await s.openIncidents()
            #expect(open.count == 1, "repeated presses of one input join its open incident")
            #expect(open.first?.presses == 3)
            #expect(open.first?.restoredAt == nil, "pressed again: not released any more")
            #expect(open.first?.occurredAt == t0, "the first press's first edge stays the incident's time")
            #expect(open.first?.zone == 7 && open.first?.site == "Embassy A" && open.first?.input == "btn")
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func queueIsSortedByPriorityThenAge(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            try await put(s, alert(1, .trouble, input: "psu", at: 0))
            try await put(s, alert(2, .tamper, input: "lid", at: 1))
            try await put(s, alert(3, .duress, input: "desk", at: 2))
            try await put(s, alert(4, .panic, input: "hall", at: 3))
            let kinds = try await s.openIncidents().map(\.kind)
            #expect(kinds == [.duress, .panic, .tamper, .trouble], "panic and duress (oldest first) above tamper above trouble")
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func sensorsHeartbeatsAndDuplicatesOpenNoIncident(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            try await put(s, alert(1, .sensor, input: "door"))
            try await put(s, alert(2, .restore, input: "door", restores: .sensor))
            try await put(s, alert(3))
            try await put(s, alert(3))
            let open = try await s.openIncidents()
            #expect(open.count == 1)
            #expect(open.first?.presses == 1, "a duplicate delivery is not a second press")
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func acknowledgeThenResolveIsAuditedAndANewPressOpensANewIncident(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            try await put(s, alert(1))
            let id = try #require(try await s.openIncidents().first?.id)
            let acked = try await s.acknowledge(id, by: "alice", at: t0 + .seconds(10))
            #expect(acked.state == .acknowledged && acked.acknowledgedBy == "alice" && acked.acknowledgedAt == t0 + .seconds(10))
            await #expect(throws: ConsoleError.wrongState(id, .acknowledged, wanted: "acknowledged")) {
                _ = try await s.acknowledge(id, by: "bob", at: t0 + .seconds(11))
            }
            let done = try await s.resolve(id, by: "bob", disposition: .falseAlarm, note: "pressed by the cleaner", at: t0 + .seconds(20))
            #expect(done.state == .resolved && done.resolvedBy == "bob" && done.disposition == .falseAlarm && done.note == "pressed by the cleaner")
            #expect(try await s.openIncidents().isEmpty)
            try await put(s, alert(2, at: 30))
            let next = try await s.openIncidents()
            #expect(next.count == 1 && next.first?.id != id, "after resolution, a press is a new incident")
            let audit = try await s.audit(incidentID: id, limit: 100)
            #expect(audit.map(\.action) == ["acknowledged", "resolved"])
            #expect(audit.map(\.operatorName) == ["alice", "bob"])
            #expect(audit.last?.detail == "false-alarm: pressed by the cleaner")
            // Survives a restart: a new store on the same file or database sees the same.
            try await withReopened(s) { reopened async throws in
                #expect(try await reopened.incident(id)?.state == .resolved)
                #expect(try await reopened.audit(incidentID: id, limit: 100).count == 2)
            }
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func auditLogIsAppendOnly(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            try await s.appendAudit(operatorName: "alice", incidentID: nil, action: "login", detail: "", at: t0)
            // Straight at the database, past the store: the database itself refuses.
            for sql in ["UPDATE audit SET operator = 'mallory'", "DELETE FROM audit"] + (engine == .postgresql ? ["TRUNCATE audit"] : []) {
                let refusal = try await rawSQLRefusal(s, sql)
                #expect(refusal?.contains("append-only") == true, "\(sql) must fail as append-only, got \(refusal ?? "success")")
            }
            #expect(try await s.audit(incidentID: nil, limit: 10).map(\.operatorName) == ["alice"])
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func silenceAndReturnAreOneSupervisionIncident(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            let beat = Heartbeat(id: "hb-1", gatewayID: "gw-1", site: "Embassy A", sentAt: t0, intervalSeconds: 60, lastSequence: 0, queue: [],
                                 inputs: [], clockSynchronized: true, evictedTelemetry: 0)
            _ = try await s.recordHeartbeat(beat, at: t0, nonceCreated: t0.secondsSinceEpoch, forgetNoncesBefore: 0)
            #expect(try await s.markSilent(now: t0 + .seconds(181), afterIntervals: 3) == ["gw-1"])
            var open = try await s.openIncidents()
            #expect(open.map(\.kind) == [.silent])
            #expect(open.first?.restoredAt == nil)
            var back = beat
            back.id = "hb-2"
            _ = try await s.recordHeartbeat(back, at: t0 + .seconds(200), nonceCreated: t0.secondsSinceEpoch + 200, forgetNoncesBefore: 0)
            open = try await s.openIncidents()
            #expect(open.count == 1 && open.first?.restoredAt == t0 + .seconds(200), "the return marks the same incident; an operator still closes it")
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func anUnsynchronisedClockIsOneIncidentNotOnePerHeartbeat(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            func beat(_ n: Int, synced: Bool) async throws {
                let b = Heartbeat(id: "hb-\(n)", gatewayID: "gw-1", site: "Embassy A", sentAt: t0 + .seconds(Int64(n)), intervalSeconds: 60, lastSequence: 0,
                                  queue: [], inputs: [], clockSynchronized: synced, evictedTelemetry: 0)
                _ = try await s.recordHeartbeat(b, at: t0 + .seconds(Int64(n)), nonceCreated: t0.secondsSinceEpoch + Int64(n), forgetNoncesBefore: 0)
            }
            try await beat(1, synced: true)
            #expect(try await s.openIncidents().isEmpty)
            let quiet = try await s.lastIncidentChange()
            for n in 2...4 { try await beat(n, synced: false) }
            var open = try await s.openIncidents()
            #expect(open.map(\.kind) == [.clock] && open.first?.presses == 1)
            #expect(try await s.lastIncidentChange() == quiet + 1, "the later heartbeats change nothing, so no event goes to the consoles")
            try await beat(5, synced: true)
            try await beat(6, synced: true)
            open = try await s.openIncidents()
            #expect(open.first?.restoredAt == t0 + .seconds(5))
            try await beat(7, synced: false)
            open = try await s.openIncidents()
            #expect(open.count == 1 && open.first?.presses == 2 && open.first?.restoredAt == nil, "lost again: the same incident, counted")
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func sequenceGapOpensASupervisionIncident(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            try await put(s, alert(1, .sensor, input: "door"))
            try await put(s, alert(5, .sensor, input: "door", at: 1))
            let open = try await s.openIncidents()
            #expect(open.map(\.kind) == [.sequence])
            #expect(open.first?.detail.contains("2") == true)
        }
    }

    @Test(arguments: ReceiverEngine.allCases) func sessionsEndAtExpiryAndWhenTheOperatorIsDisabled(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            try await s.addOperator(name: "alice", role: .operator, passwordHash: "x", at: t0)
            await #expect(throws: ConsoleError.operatorExists("alice")) { try await s.addOperator(name: "alice", role: .operator, passwordHash: "x", at: t0) }
            await #expect(throws: ConsoleError.invalidOperatorName("Alice Smith")) { try await s.addOperator(name: "Alice Smith", role: .operator, passwordHash: "x", at: t0) }
            try await s.createSession(tokenHash: "h1", operatorName: "alice", csrfToken: "c", expiresAt: t0 + .seconds(3600), at: t0)
            #expect(try await s.session(tokenHash: "h1", now: t0 + .seconds(3599))?.operatorName == "alice")
            #expect(try await s.session(tokenHash: "h1", now: t0 + .seconds(3600)) == nil, "expired")
            try await s.createSession(tokenHash: "h2", operatorName: "alice", csrfToken: "c", expiresAt: t0 + .seconds(3600), at: t0)
            try await s.setOperatorEnabled(name: "alice", false, at: t0)
            #expect(try await s.session(tokenHash: "h2", now: t0) == nil, "disabled: every session ends")
        }
    }
}

/// The login throttle, on a clock moved by hand.
@Suite struct LoginThrottleTests {
    let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)

    @Test func fiveFailuresAreFreeThenEachDoublesTheWait() {
        var t = LoginThrottle()
        for _ in 0..<5 {
            #expect(t.waitBefore("alice", now: t0) == nil)
            t.failed("alice", now: t0)
        }
        #expect(t.waitBefore("alice", now: t0) == nil, "five in a row are a typing problem, not an attack")
        t.failed("alice", now: t0)
        #expect(t.waitBefore("alice", now: t0) == .seconds(1))
        t.failed("alice", now: t0 + .seconds(1))
        #expect(t.waitBefore("alice", now: t0 + .seconds(1)) == .seconds(2))
        #expect(t.waitBefore("bob", now: t0) == nil, "other names are not held up")
    }

    @Test func twentyFailuresWaitTheMaximumAndSuccessStartsOver() {
        var t = LoginThrottle()
        var now = t0
        for _ in 0..<20 {
            if let w = t.waitBefore("alice", now: now) { now = now + w }
            t.failed("alice", now: now)
        }
        #expect(t.waitBefore("alice", now: now) == .seconds(60))
        t.succeeded("alice")
        #expect(t.waitBefore("alice", now: now) == nil)
        #expect(t.failures("alice") == 0)
    }

    @Test func quietNamesAreForgottenAndMemoryIsBounded() {
        var t = LoginThrottle(capacity: 100)
        for i in 0..<1_000 { t.failed("guess-\(i)", now: t0 + .milliseconds(Int64(i))) }
        #expect(t.failures("guess-999") == 1)
        #expect(t.failures("guess-0") == 0, "the oldest were dropped to stay within capacity")
        for _ in 0..<6 { t.failed("alice", now: t0) }
        #expect(t.waitBefore("alice", now: t0 + .seconds(901)) == nil)
        #expect(t.failures("alice") == 0, "forgotten after 15 quiet minutes")
    }

    @Test func hugeFailureCountsCannotOverflowTheDelay() {
        var t = LoginThrottle(freeFailures: 0, maximumDelay: .seconds(Int64.max / 2_000_000_000))
        for _ in 0..<200 { t.failed("x", now: t0) }
        #expect((t.waitBefore("x", now: t0) ?? .seconds(0)) > .seconds(0))
    }
}

/// What the console puts in a page or a CSV file.
@Suite struct ConsoleEscapingTests {
    /// An incident whose every text field holds what JSON must escape.
    static func hostileView(steps: [IncidentStep], optionalsSet: Bool) -> IncidentView {
        let nasty = "q\"uo\\te / <script>\u{1b}[2J\u{0}\u{7f}\n\r\t\u{08}\u{0C} é 🚨 \u{2028}"
        let t = WallTime(nanosecondsSinceEpoch: 1_796_000_000_123_456_789)
        let i = Incident(id: 42, change: 7, gatewayID: "gw-" + nasty, site: nasty, input: optionalsSet ? nasty : nil, kind: .panic, priority: 0,
                         test: true, zone: optionalsSet ? -3 : nil, area: optionalsSet ? Int(Int32.max) : nil, firstAlertID: "a", occurredAt: t,
                         receivedAt: t + .seconds(1), clockSynchronized: false, presses: 3, lastAt: t, restoredAt: optionalsSet ? t : nil,
                         state: .acknowledged, acknowledgedBy: optionalsSet ? "olga" : nil, acknowledgedAt: optionalsSet ? t : nil,
                         resolvedBy: nil, resolvedAt: nil, disposition: optionalsSet ? .falseAlarm : nil, note: optionalsSet ? nasty : nil,
                         detail: nasty, escalatedAt: optionalsSet ? t : nil, steps: steps)
        var console = ReceiverConfig.Console()
        console.actionPlans = ["*": ["Call \"security\"", nasty]]
        console.locations = [i.gatewayID: [nasty: "Room </script> 2"]]
        return IncidentView(i, console: console)
    }

    @Test(arguments: [true, false]) func anIncidentsJSONIsWhatJSONEncoderWouldWrite(optionalsSet: Bool) throws {
        let v = Self.hostileView(steps: [IncidentStep(step: 1, doneBy: "olga", doneAt: WallTime(secondsSinceEpoch: 1_796_000_100))], optionalsSet: optionalsSet)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let expected = try JSONSerialization.jsonObject(with: encoder.encode(v)) as? NSDictionary
        let written = try JSONSerialization.jsonObject(with: Data(v.json.utf8)) as? NSDictionary
        #expect(written != nil && written == expected, "hand-written: \(v.json)")
        #expect(!v.json.contains("\n") && !v.json.contains("<"), "one line, and no '<' to end the page's script block")
    }

    @Test func markupInNamesIsText() {
        #expect(HTML.escape("<script>alert('x')</script> & \"q\"") == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        #expect(HTML.escape("a\u{1b}[2Jb") == "a&#27;[2Jb")
    }

    @Test func passwordRuleNamesTheProblem() {
        #expect(PasswordRule.problem("short") == "the password is 5 bytes; at least 12")
        #expect(PasswordRule.problem(String(repeating: "x", count: 73))?.contains("at most 72") == true)
        #expect(PasswordRule.problem("correct horse battery") == nil)
    }

    @Test func sessionCookieIsHttpOnlyStrictAndSecureUnderTLS() {
        let c = SessionToken.cookie("tok", maxAge: 60, secure: true)
        #expect(c == "panic_session=tok; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict; Secure")
        #expect(!SessionToken.cookie("tok", maxAge: 60, secure: false).contains("Secure"))
        #expect(SessionToken.random() != SessionToken.random())
        #expect(SessionToken.random().utf8.count == 43)
    }
}
