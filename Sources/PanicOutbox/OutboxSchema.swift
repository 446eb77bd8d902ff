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
          priority INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY(destination, sequence))
        """,
        "CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries(destination, state, sequence)",
        // Deleting an alert cascades to its deliveries, and pruning asks
        // whether any destination still has it pending: both look deliveries
        // up by sequence alone, which neither index above can do. Without
        // this every pruned alert scanned the whole table — after a long
        // outage (a million rows) a prune step held the writer for minutes
        // and the backlog drained at one batch a minute-and-a-half.
        "CREATE INDEX IF NOT EXISTS deliveries_by_sequence ON deliveries(sequence)",
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ]

    /// Made after `addedColumns`, since they index one of them.
    static let indexes = [
        // What is due for a destination, in delivery order (alarms first,
        // then by sequence), read from the index without sorting: sorting
        // every pending row cost 50 ms a read with 100,000 queued.
        "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(destination, priority, sequence) WHERE state = 'pending'",
    ]

    /// Columns newer than the first outboxes, added to an old file when it
    /// is opened (once; the table's truth fills them in).
    static let addedColumns: [(name: String, add: String, fill: String)] = [
        // The alert's priority beside each delivery, for `deliveries_due`.
        // Its default is the alarm's: a row that somehow missed it is
        // delivered early, never late. (Eviction reads alerts.priority.)
        ("priority", "ALTER TABLE deliveries ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
         "UPDATE deliveries SET priority = (SELECT a.priority FROM alerts a WHERE a.sequence = deliveries.sequence)"),
    ]

    static func create(_ db: Database) throws {
        for s in statements { try db.execute(sql: s) }
        let columns = try Set(String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('deliveries')"))
        for c in addedColumns where !columns.contains(c.name) {
            try db.execute(sql: c.add)
            try db.execute(sql: c.fill)
        }
        for s in indexes { try db.execute(sql: s) }
    }

    static func meta(_ db: Database, _ key: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
    }

    static func setMeta(_ db: Database, _ key: String, _ value: Int64) throws {
        try db.execute(sql: "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
    }
}
