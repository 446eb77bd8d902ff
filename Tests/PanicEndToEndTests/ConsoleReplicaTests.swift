import Foundation
import PanicCore
import PanicReceiverKit
import Testing

/// The console on several PostgreSQL replicas at once: each incident
/// decision made once whichever replica makes it, and every replica's
/// consoles told of every change.
@Suite struct ConsoleReplicaTests {
    let t0 = WallTime(secondsSinceEpoch: 1_796_000_000)

    func alert(_ seq: Int64, input: String = "btn") -> Alert {
        var a = Alert(id: "alert-\(seq)", gatewayID: "gw-1", site: "Embassy A", sequence: seq, kind: .panic,
                      occurredAt: t0 + .seconds(seq), acceptedAt: t0 + .seconds(seq), clockSynchronized: true)
        a.input = input
        return a
    }

    func put(_ s: any ReceiverStore, _ a: Alert) async throws -> StoreOutcome {
        try await s.store(a, body: try WireFormat.encode(a), keyID: "k", at: a.occurredAt + .milliseconds(5))
    }

    @Test func pressesOfOneInputArrivingOnTwoReplicasAtOnceAreOneIncident() async throws {
        try await withFreshStore(.postgresql) { a in
            try await withReopened(a) { b in
                // Each press twice (a gateway retrying on the other replica),
                // and two presses of one input, all at the same moment.
                let outcomes = try await withThrowingTaskGroup(of: StoreOutcome.self) { group in
                    for (store, seq) in [(a, Int64(1)), (b, 1), (a, 2), (b, 2)] { group.addTask { try await self.put(store, self.alert(seq)) } }
                    return try await group.reduce(into: [StoreOutcome]()) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 == .created }.count == 2 && outcomes.filter { $0 == .duplicate }.count == 2)
                let open = try await a.openIncidents()
                #expect(open.count == 1, "one incident per input, whichever replica stored the press")
                #expect(open.first?.presses == 2)
                #expect(try await b.openIncidents() == open)
            }
        }
    }

    @Test func anAcknowledgementOnOneReplicaReachesTheOtherReplicasConsolesAtOnce() async throws {
        try await withFreshStore(.postgresql) { a in
            try await withReopened(a) { b in
                _ = try await put(a, alert(1))
                let id = try #require(try await b.openIncidents().first?.id)
                let pg = try #require(b as? PostgresReceiverStore)
                let listening = pg.incidentChanges.current
                let watcher = Task { await pg.watchRegistry {} }
                defer { watcher.cancel() }
                // The listener says "changed" once when it starts listening.
                #expect(await pg.incidentChanges.wait(after: listening, timeout: .seconds(10)) != listening, "replica b never started listening")
                let seen = pg.incidentChanges.current
                let clock = ContinuousClock()
                let start = clock.now
                _ = try await a.acknowledge(id, by: "alice", at: t0 + .seconds(10))
                let woken = await pg.incidentChanges.wait(after: seen, timeout: .seconds(10))
                #expect(woken != seen, "replica b's consoles were not woken by replica a's acknowledgement")
                #expect(clock.now - start < .seconds(5))
                #expect(try await b.incident(id)?.state == .acknowledged)
                #expect(try await b.acknowledgements(gatewayID: "gw-1").inputs == ["btn": .acknowledged], "the lamp on replica b's answer too")
            }
        }
    }

    @Test func twoOperatorsAcknowledgingOnTwoReplicasAtOnceOneWins() async throws {
        try await withFreshStore(.postgresql) { a in
            try await withReopened(a) { b in
                _ = try await put(a, alert(1))
                let id = try #require(try await a.openIncidents().first?.id)
                let results = await withTaskGroup(of: Result<Incident, any Error>.self) { group in
                    for (store, who) in [(a, "alice"), (b, "bob")] {
                        group.addTask {
                            do { return .success(try await store.acknowledge(id, by: who, at: self.t0 + .seconds(10))) } catch { return .failure(error) }
                        }
                    }
                    return await group.reduce(into: [Result<Incident, any Error>]()) { $0.append($1) }
                }
                let won = results.compactMap { try? $0.get() }
                #expect(won.count == 1, "exactly one acknowledgement")
                let lost = results.compactMap { if case .failure(let e) = $0 { e as? ConsoleError } else { nil } }
                #expect(lost == [.wrongState(id, .acknowledged, wanted: "acknowledged")])
                #expect(try await a.audit(incidentID: id, limit: 10).map(\.action) == ["acknowledged"])
            }
        }
    }

    @Test func twoReplicasEscalatingAtOnceEscalateAndSendEachIncidentOnce() async throws {
        try await withFreshStore(.postgresql) { a in
            try await withReopened(a) { b in
                for seq in 1...3 { _ = try await put(a, alert(Int64(seq), input: "btn-\(seq)")) }
                let now = t0 + .seconds(120)
                let escalated = try await withThrowingTaskGroup(of: [Incident].self) { group in
                    for store in [a, b, a, b] {
                        group.addTask {
                            try await store.escalate(receivedBefore: now, maximumPriority: 0, webhooks: ["police", "ministry"], at: now) { _ in Array("{}".utf8) }
                        }
                    }
                    return try await group.reduce(into: [Incident]()) { $0 += $1 }
                }
                #expect(escalated.count == 3, "each incident escalated by one replica")
                #expect(Set(escalated.map(\.id)).count == 3)
                #expect(try await a.undeliveredEscalations() == 6)
                // Both escalation loops ask for due deliveries at once: each is taken by one.
                let taken = try await withThrowingTaskGroup(of: [EscalationDelivery].self) { group in
                    for store in [a, b] { group.addTask { try await store.dueEscalations(at: now, limit: 10) } }
                    return try await group.reduce(into: [EscalationDelivery]()) { $0 += $1 }
                }
                #expect(taken.count == 6 && Set(taken.map(\.id)).count == 6, "no webhook sent by two replicas")
                #expect(try await b.dueEscalations(at: now + .seconds(1), limit: 10).isEmpty, "held while being sent")
                #expect(try await b.dueEscalations(at: now + .seconds(61), limit: 10).count == 6, "a replica that died sending them leaves them due again")
                for d in taken { try await a.escalationDelivered(d.id, at: now + .seconds(62)) }
                #expect(try await b.undeliveredEscalations() == 0)
            }
        }
    }
}

/// A PostgreSQL database of the release before the console, upgraded.
@Suite struct ConsoleSchemaUpgradeTests {
    @Test func aVersion2DatabaseKeepsItsAlertsAndGainsTheConsoleWhenMigrated() async throws {
        try await withFreshStore(.postgresql, migrated: false) { s in
            let pg = try #require(s as? PostgresReceiverStore)
            #expect(try await pg.migrate(to: 2) == (0, 2))
            // What the earlier release wrote, through its own function.
            #expect(try await rawSQLRefusal(s, """
                SELECT panic_store_alert('gw-1', 'a-1', 1, 'panic', false, 1, 2, 'k', '\\x7b7d'::bytea, 'PANIC btn')
                """) == nil)
            await #expect(throws: SchemaMismatch.self, "a replica of this release refuses the older schema until it is migrated") {
                try await pg.checkReady()
            }
            #expect(try await pg.migrate() == (2, PostgresSchema.current))
            try await pg.checkReady()
            #expect(try await pg.status().first?.lastSequence == 1, "the earlier alerts are kept")
            var next = Alert(id: "a-2", gatewayID: "gw-1", site: "Embassy A", sequence: 2, kind: .panic,
                             occurredAt: WallTime(secondsSinceEpoch: 1_796_000_000), acceptedAt: WallTime(secondsSinceEpoch: 1_796_000_000),
                             clockSynchronized: true)
            next.input = "btn"
            #expect(try await pg.store(next, body: try WireFormat.encode(next), keyID: "k", at: next.occurredAt) == .created)
            #expect(try await pg.openIncidents().map(\.firstAlertID) == ["a-2"], "the upgraded database queues new alarms")
        }
    }
}
