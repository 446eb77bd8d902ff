import GRDB

/// The outbox's tables. One row per alert; one delivery row per alert and
/// destination, so each destination keeps its own state.
enum OutboxSchema {
    static let statements = [
        """
        CREATE TABLE IF NOT EXISTS alerts(
          sequence INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          kind TEXT NOT NULL,
          priority INTEGER NOT NULL,
          body BLOB NOT NULL,
          accepted_at_ns INTEGER NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS deliveries(
          destination TEXT NOT NULL,
          sequence INTEGER NOT NULL REFERENCES alerts(sequence) ON DELETE CASCADE,
          state TEXT NOT NULL CHECK(state IN ('pending','delivered','evicted')),
          attempts INTEGER NOT NULL DEFAULT 0,
          next_attempt_ns INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          delivered_at_ns INTEGER,
          PRIMARY KEY(destination, sequence))
        """,
        "CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries(destination, state, sequence)",
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ]

    static func create(_ db: Database) throws {
        for s in statements { try db.execute(sql: s) }
    }

    static func meta(_ db: Database, _ key: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
    }

    static func setMeta(_ db: Database, _ key: String, _ value: Int64) throws {
        try db.execute(sql: "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
    }
}
