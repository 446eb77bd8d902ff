import Foundation
import GRDB
import PanicCore
@testable import PanicOutbox
import Testing

/// SQLite's plans for the statements whose cost grows with the outbox: a
/// step that scans the deliveries table once per row is quadratic, and after
/// a month's outage (a million rows) it held the writer for minutes.
@Suite("Outbox statements look deliveries up by index, never by scanning the table")
struct OutboxQueryPlanTests {
    /// The outbox's file, with a few alerts of each kind, delivered and not.
    func outboxFile() throws -> String {
        let path = temporaryDirectory() + "/plan.db"
        let now = WallTime(secondsSinceEpoch: 1_800_000_000)
        let o = try Outbox(path: path, destinations: ["central", "arc"])
        let a = try o.accept((0..<20).map { i in AlertDraft(kind: i % 3 == 0 ? .panic : .sensor, occurredAt: now, clockSynchronized: true) },
                             gatewayID: "gw", site: "s", at: now)
        try o.markDelivered(sequences: a.prefix(10).map(\.sequence), destination: "central", at: now)
        return path
    }

    /// The steps of `sql`'s plan (with foreign keys on, as the outbox runs).
    func plan(_ path: String, _ sql: String, _ arguments: StatementArguments = []) throws -> [String] {
        let db = try DatabaseQueue(path: path)
        return try db.inDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
        }
    }

    func scansDeliveries(_ steps: [String]) -> [String] {
        steps.filter { $0 == "SCAN d" || $0.hasPrefix("SCAN d ") || $0.hasPrefix("SCAN deliveries") }
    }

    @Test("a prune step finds what is still pending, and deletes an alert's deliveries, by sequence through an index")
    func pruneUsesTheSequenceIndex() throws {
        let path = try outboxFile()
        let steps = try plan(path, Outbox.pruneStatement, [0, 15, 1_000])
        #expect(scansDeliveries(steps).isEmpty, "\(steps)")
        #expect(steps.contains { $0.contains("deliveries_by_sequence") }, "\(steps)")
        let cascade = try plan(path, "DELETE FROM alerts WHERE sequence = ?", [1])
        #expect(scansDeliveries(cascade).isEmpty, "deleting one alert scans its deliveries: \(cascade)")
    }

    @Test("an outbox made before the index gets it when opened")
    func existingOutboxGetsTheIndex() throws {
        let path = try outboxFile()
        try DatabaseQueue(path: path).inDatabase { db in try db.execute(sql: "DROP INDEX deliveries_by_sequence") }
        _ = try Outbox(path: path, destinations: ["central", "arc"])
        let indexes = try DatabaseQueue(path: path).inDatabase { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries'")
        }
        #expect(indexes.contains("deliveries_by_sequence"), "\(indexes)")
        #expect(scansDeliveries(try plan(path, Outbox.pruneStatement, [0, 15, 1_000])).isEmpty)
    }

    @Test("the read of what is due walks deliveries_due in delivery order and stops at its limit: no sort of every pending row")
    func dueReadNeedsNoSort() throws {
        let path = try outboxFile()
        let steps = try plan(path, Outbox.pendingSelect + Outbox.dueInOrder, ["central", Int64.max, 100])
        #expect(steps.contains { $0.contains("deliveries_due") }, "\(steps)")
        #expect(!steps.contains { $0.contains("TEMP B-TREE") }, "\(steps)")
    }

    @Test("an outbox from before deliveries kept the priority gets it from its alerts when opened, and delivers alarms first")
    func oldOutboxGetsPriorities() throws {
        let path = temporaryDirectory() + "/old.db"
        try DatabaseQueue(path: path).write { db in
            // The schema as the first outboxes had it.
            try db.execute(sql: """
                CREATE TABLE alerts(sequence INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, priority INTEGER NOT NULL,
                  body BLOB NOT NULL, accepted_at_ns INTEGER NOT NULL);
                CREATE TABLE deliveries(destination TEXT NOT NULL, sequence INTEGER NOT NULL REFERENCES alerts(sequence) ON DELETE CASCADE,
                  state TEXT NOT NULL CHECK(state IN ('pending','delivered','evicted')), attempts INTEGER NOT NULL DEFAULT 0,
                  next_attempt_ns INTEGER NOT NULL DEFAULT 0, last_error TEXT, delivered_at_ns INTEGER, PRIMARY KEY(destination, sequence));
                CREATE INDEX deliveries_by_state ON deliveries(destination, state, sequence);
                CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO meta VALUES('last_sequence', 3);
                """)
            for (seq, kind, priority) in [(1, "sensor", 1), (2, "sensor", 1), (3, "panic", 0)] as [(Int64, String, Int)] {
                let body = #"{"id":"id-\#(seq)"}"#
                try db.execute(sql: "INSERT INTO alerts VALUES(?, ?, ?, ?, ?, 0)", arguments: [seq, "id-\(seq)", kind, priority, Data(body.utf8)])
                try db.execute(sql: "INSERT INTO deliveries(destination, sequence, state) VALUES('central', ?, 'pending')", arguments: [seq])
            }
        }
        let o = try Outbox(path: path, destinations: ["central"])
        #expect(try o.deliverable(destination: "central", now: WallTime(secondsSinceEpoch: 1), limit: 10).map(\.sequence) == [3, 1, 2])
        let priorities = try DatabaseQueue(path: path).read { db in
            try Int.fetchAll(db, sql: "SELECT priority FROM deliveries ORDER BY sequence")
        }
        #expect(priorities == [1, 1, 0])
    }
}
