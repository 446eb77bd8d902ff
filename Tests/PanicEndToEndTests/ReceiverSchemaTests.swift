import Foundation
import PanicReceiverKit
import Testing

/// The receiver's database across versions: one written by the first
/// release is migrated in place; one written by a newer receiver is refused.
@Suite("Receiver schema migrations")
struct ReceiverSchemaTests {
    func sqlite(_ path: String, _ sql: String) throws -> String {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path, sql]
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "sqlite3 \(sql)")
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func path() -> String { NSTemporaryDirectory() + "/schema-" + UUID().uuidString + ".db" }

    @Test("an empty database is created at the current version")
    func fresh() async throws {
        #expect(try await SQLiteReceiverStore(path: path()).schemaVersion() == SQLiteSchema.current)
    }

    @Test("a first-release database keeps its alerts and gains who announced each key; its old announcements are not trusted")
    func fromVersionOne() async throws {
        let p = path()
        _ = try sqlite(p, """
            CREATE TABLE alerts(id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, sequence INTEGER NOT NULL, kind TEXT NOT NULL,
              test INTEGER NOT NULL, occurred_at_ns INTEGER NOT NULL, received_at_ns INTEGER NOT NULL, key_id TEXT NOT NULL, body BLOB NOT NULL);
            CREATE TABLE gateways(id TEXT PRIMARY KEY, last_heartbeat_ns INTEGER, interval_s INTEGER, reported_sequence INTEGER,
              queued INTEGER, silent INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE announced_keys(key_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, public_key TEXT NOT NULL, announced_at_ns INTEGER NOT NULL);
            CREATE TABLE events(number INTEGER PRIMARY KEY AUTOINCREMENT, at_ns INTEGER NOT NULL, gateway_id TEXT NOT NULL, type TEXT NOT NULL, text TEXT NOT NULL);
            INSERT INTO announced_keys VALUES('abcd', 'gw-1', 'AAAA', 1);
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(1, 'gw-1', 'alert', 'kept');
            """)
        let store = try SQLiteReceiverStore(path: p)
        #expect(try await store.schemaVersion() == SQLiteSchema.current)
        #expect(try await store.events(after: 0).map(\.text) == ["kept"])
        #expect(try await store.announcedKey("abcd") == nil, "an announcement whose announcer is unknown must not be trusted")
        #expect(try sqlite(p, "SELECT COUNT(*) FROM heartbeat_nonces") == "0")
    }

    @Test("a database from a newer receiver is refused with what to do")
    func newerRefused() async throws {
        let p = path()
        _ = try SQLiteReceiverStore(path: p)
        _ = try sqlite(p, "PRAGMA user_version = 99")
        do {
            _ = try SQLiteReceiverStore(path: p)
            Issue.record("opened a version-99 database")
        } catch {
            #expect("\(error)".contains("schema version 99") && "\(error)".contains("newer"), "\(error)")
        }
    }
}
