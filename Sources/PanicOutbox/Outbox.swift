import Foundation
import GRDB
import PanicCore

/// The durable outbox: SQLite in WAL mode with `synchronous=FULL`. An alert
/// is accepted only once the transaction holding it has committed, which
/// with these settings means it is on disk. Each destination keeps its own
/// delivery state; alarms go first and are never evicted.
public final class Outbox: @unchecked Sendable {
    public let path: String
    public let destinations: [String]
    /// Most undelivered telemetry kept per destination before the oldest goes.
    public let maximumTelemetry: Int
    public let openReport: OutboxOpenReport
    let pool: DatabasePool
    private let ids = AlertIDGenerator()
    /// What the disk has not taken yet; read briefly by delivery and status.
    let unwritten: Locked<Unwritten>
    /// Held by every write, and around changes to `unwritten` that a write
    /// depends on, so a write and a delivery outcome never cross.
    let writeLock = Mutex()
    let reserve: OutboxReserve

    /// Opens (or creates) the outbox at `path`. A corrupt file is moved aside
    /// and what can be read from it is carried into a fresh one; see
    /// `openReport`. Throws only when no usable database can be made at all.
    ///
    /// `reserveBytes`: the size of the reserve file kept beside it for the
    /// alarms after the disk fills (0: none).
    public init(path: String, destinations: [String], maximumTelemetry: Int = 10_000, reserveBytes: Int = 0) throws(OutboxError) {
        self.path = path
        self.destinations = destinations
        self.maximumTelemetry = maximumTelemetry
        var report = OutboxOpenReport(corruptFileMovedTo: nil, salvagedAlerts: 0, corruption: nil, pendingAtStart: 0)
        var opened: DatabasePool
        do {
            opened = try Self.openChecked(path)
        } catch let corrupt as CorruptDatabase {
            let moved = "\(path).corrupt-\(Int(Date().timeIntervalSince1970))"
            report.corruption = corrupt.reason
            report.corruptFileMovedTo = moved
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try? FileManager.default.moveItem(atPath: path + suffix, toPath: moved + suffix)
            }
            do {
                opened = try Self.openChecked(path)
                report.salvagedAlerts = try Salvage.carry(from: moved, into: opened, destinations: destinations)
            } catch {
                throw OutboxError(operation: "recreate after corruption", path: path, underlying: "\(error)")
            }
        } catch {
            throw OutboxError(operation: "open", path: path, underlying: "\(error)")
        }
        var last: Int64 = 0
        do {
            try opened.write { db in try Self.addMissingDestinations(db, destinations: destinations) }
            report.pendingAtStart = try opened.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT sequence) FROM deliveries WHERE state = 'pending'") ?? 0
            }
            last = try opened.read { db in
                max(try OutboxSchema.meta(db, "last_sequence"), try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM alerts") ?? 0)
            }
        } catch {
            throw OutboxError(operation: "read at start", path: path, underlying: "\(error)")
        }
        pool = opened
        openReport = report
        unwritten = Locked(Unwritten(lastAssigned: last))
        reserve = OutboxReserve(path: path + ".reserve", bytes: max(0, reserveBytes))
        reserve.restore()
    }

    struct CorruptDatabase: Error { var reason: String }

    static func configuration() -> Configuration {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        return config
    }

    static func openChecked(_ path: String) throws -> DatabasePool {
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration())
            // GRDB switches a pool's writer to WAL with synchronous=NORMAL after
            // prepareDatabase ran: a commit would then reach the disk only at
            // the next checkpoint. The writer connection is the pool's one
            // and only, so setting FULL here holds for every commit.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            let check = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else { throw CorruptDatabase(reason: "quick_check: " + check.prefix(3).joined(separator: "; ")) }
            // Incremental auto-vacuum, so pruning gives pages back to the
            // filesystem. Only a new file is set up so: switching an old one
            // takes a VACUUM that holds the writer (and would delay alerts)
            // for as long as the file is big; there pruned pages are reused.
            let isNew = try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master") ?? 0 } == 0
            if isNew {
                // The WAL header is already written: an (instant) VACUUM of the
                // empty file makes the setting stick.
                try pool.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                    try db.execute(sql: "VACUUM")
                }
            }
            try pool.write { db in try OutboxSchema.create(db) }
        } catch let e as DatabaseError where e.resultCode == .SQLITE_CORRUPT || e.resultCode == .SQLITE_NOTADB {
            throw CorruptDatabase(reason: e.message ?? "\(e.resultCode)")
        }
        return pool
    }

    /// A new destination (added to the config) starts with what is still
    /// undelivered elsewhere, so nothing accepted misses it.
    private static func addMissingDestinations(_ db: Database, destinations: [String]) throws {
        for d in destinations {
            let known = try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM deliveries WHERE destination = ?)", arguments: [d]) ?? false
            if known { continue }
            try db.execute(sql: """
                INSERT OR IGNORE INTO deliveries(destination, sequence, state, priority)
                SELECT ?, sequence, 'pending', MIN(priority) FROM deliveries WHERE state = 'pending' GROUP BY sequence
                """, arguments: [d])
        }
    }

    // MARK: Accepting

    /// Accepts drafts in one transaction: ids, sequence numbers and the
    /// acceptance time are assigned, every destination gets a pending
    /// delivery, and excess telemetry is evicted. Returns only after the
    /// commit: what it returns is durable. When the disk does not take them
    /// it throws and nothing is accepted (`acceptOrHold` holds them instead).
    public func accept(_ drafts: [AlertDraft], gatewayID: String, site: String, at now: WallTime) throws(OutboxError) -> [Alert] {
        let result = acceptOrHold(drafts, gatewayID: gatewayID, site: site, at: now, holdOnFailure: false)
        if let error = result.unwritten { throw error }
        return result.alerts
    }

    /// Accepts drafts as `accept` does, and when the disk does not take them
    /// (full, failing, read-only) keeps them in memory instead, with their ids
    /// and sequence numbers: delivery finds them as it finds stored ones
    /// (`durable` false), and `writeUnwritten` (or the next accept) stores
    /// them once the disk takes them again. A disk that is full first gives
    /// up the reserve file and commits again. Alerts held from before are
    /// written first, in the same transaction, so sequence order holds.
    public func acceptOrHold(_ drafts: [AlertDraft], gatewayID: String, site: String, at now: WallTime) -> Acceptance {
        acceptOrHold(drafts, gatewayID: gatewayID, site: site, at: now, holdOnFailure: true)
    }

    private func acceptOrHold(_ drafts: [AlertDraft], gatewayID: String, site: String, at now: WallTime, holdOnFailure: Bool) -> Acceptance {
        if drafts.isEmpty { return Acceptance(alerts: [], unwritten: nil, releasedReserve: false) }
        return writeLock.withLock {
            let encoder = WireFormat.encoder()
            var first = unwritten.value.lastAssigned
            var made: [Unwritten.HeldAlert] = []
            made.reserveCapacity(drafts.count)
            do {
                for d in drafts {
                    first += 1
                    let alert = Alert(
                        id: ids.next(at: now), gatewayID: gatewayID, site: site, sequence: first,
                        kind: d.kind, restores: d.restores, input: d.input, zone: d.zone, area: d.area,
                        occurredAt: d.occurredAt, acceptedAt: now, clockSynchronized: d.clockSynchronized,
                        test: d.test, detail: d.detail.map(Alert.wireSafeDetail))
                    made.append(.init(alert: alert, body: Array(try encoder.encode(alert)), deliveries: [:]))
                }
            } catch {
                // Encoding an alert of our own making does not fail; if it did, say so.
                return Acceptance(alerts: [], unwritten: OutboxError(operation: "encode \(drafts.count) alert(s)", path: path, underlying: "\(error)"), releasedReserve: false)
            }
            let before = unwritten.value
            var released = false
            var failure = write(before, adding: made, at: now)
            if let f = failure, f.diskFull, reserve.release() {
                released = true
                failure = write(before, adding: made, at: now)
            }
            let alerts = made.map(\.alert)
            guard let failure else {
                unwritten.mutate { u in
                    u = Unwritten(lastAssigned: first)
                }
                return Acceptance(alerts: alerts, unwritten: nil, releasedReserve: released)
            }
            let error = OutboxError(operation: "accept \(drafts.count) alert(s)", path: path, underlying: failure.message)
            guard holdOnFailure else { return Acceptance(alerts: [], unwritten: error, releasedReserve: released) }
            // Held: marked on the wire as not yet durable at the gateway.
            var held: [Unwritten.HeldAlert] = []
            for var h in made {
                h.alert.durable = false
                if let body = try? encoder.encode(h.alert) { h.body = Array(body) }
                for dest in destinations { h.deliveries[dest] = .init() }
                held.append(h)
            }
            unwritten.mutate { u in
                u.alerts += held
                u.lastAssigned = first
                u.lastFailure = failure.message
            }
            return Acceptance(alerts: held.map(\.alert), unwritten: error, releasedReserve: released)
        }
    }


    func evictTelemetry(_ db: Database) throws {
        for dest in destinations {
            // Counted on `deliveries_due` alone; evicted only where the alert
            // itself says telemetry too, so a row with a wrong priority is
            // never an alarm evicted.
            let count = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM deliveries WHERE destination = ? AND state = 'pending' AND priority = 1
                """, arguments: [dest]) ?? 0
            let excess = count - maximumTelemetry
            guard excess > 0 else { continue }
            try db.execute(sql: """
                UPDATE deliveries SET state = 'evicted', last_error = 'evicted: telemetry queue full'
                WHERE destination = ? AND sequence IN (
                  SELECT d.sequence FROM deliveries d JOIN alerts a USING(sequence)
                  WHERE d.destination = ? AND d.state = 'pending' AND d.priority = 1 AND a.priority = 1
                  ORDER BY d.sequence LIMIT ?)
                """, arguments: [dest, dest, excess])
            try OutboxSchema.setMeta(db, "evicted_telemetry", try OutboxSchema.meta(db, "evicted_telemetry") + Int64(excess))
        }
    }

    // MARK: Delivering

    /// Pending alerts for `destination` that may be tried at `now`: alarms
    /// first, then by sequence.
    public func deliverable(destination: String, now: WallTime, limit: Int = 1) throws(OutboxError) -> [PendingAlert] {
        try pending(destination: destination, dueBy: now, limit: limit)
    }

    /// Everything pending for `destination`, in delivery order.
    /// Alerts held in memory (the disk would not take them) are among them.
    /// The pending read's order: alarms first, then by sequence — the order
    /// of `deliveries_due`, so the read stops after `limit` rows of it.
    static let dueInOrder = " AND d.next_attempt_ns <= ? ORDER BY d.priority, d.sequence LIMIT ?"
    static let pendingSelect = """
        SELECT a.sequence, a.id, a.kind, a.priority, a.body, a.accepted_at_ns, d.attempts, d.next_attempt_ns, d.last_error
        FROM deliveries d JOIN alerts a USING(sequence)
        WHERE d.destination = ? AND d.state = 'pending'
        """

    public func pending(destination: String, dueBy: WallTime? = nil, limit: Int = 1_000_000) throws(OutboxError) -> [PendingAlert] {
        // What is held first, then the database: a write between the two
        // shows an alert twice (merged below), never not at all.
        let u = unwritten.value
        let limit = max(0, limit)
        let due = dueBy?.nanosecondsSinceEpoch ?? Int64.max
        let select = Self.pendingSelect
        do {
            let changed = u.changes.keys.filter { $0.destination == destination }.map(\.sequence)
            let stored = try pool.read { db -> [PendingAlert] in
                // Changes not yet written can take stored alerts out of the
                // list (delivered, postponed): read as many more as there are.
                var rows = try Row.fetchAll(db, sql: select + Self.dueInOrder,
                                            arguments: [destination, due, limit.saturatingAdd(changed.count)])
                // ...and a change can make one due earlier than stored (retry now).
                if !changed.isEmpty {
                    if changed.count > 500 {
                        rows += try Row.fetchAll(db, sql: select, arguments: [destination])
                    } else {
                        let marks = Array(repeating: "?", count: changed.count).joined(separator: ",")
                        var values: [any DatabaseValueConvertible] = [destination]
                        for c in changed { values.append(c) }
                        rows += try Row.fetchAll(db, sql: select + " AND a.sequence IN (\(marks))", arguments: StatementArguments(values))
                    }
                }
                return rows.map(Self.pendingAlert)
            }
            if u.alerts.isEmpty && u.changes.isEmpty { return stored }
            var bySequence: [Int64: PendingAlert] = [:]
            for p in stored {
                if let seen = u.overlay(p, destination: destination, dueBy: dueBy), seen.nextAttemptAt.nanosecondsSinceEpoch <= due {
                    bySequence[p.sequence] = seen
                }
            }
            // A held alert written meanwhile may be in both: the held copy is the one delivery state was kept on.
            for p in u.pending(destination: destination, dueBy: dueBy) { bySequence[p.sequence] = p }
            return Array(bySequence.values.sorted { $0.ordering < $1.ordering }.prefix(limit))
        } catch {
            throw OutboxError(operation: "read pending for \(destination)", path: path, underlying: "\(error)")
        }
    }

    static func pendingAlert(_ row: Row) -> PendingAlert {
        PendingAlert(
            sequence: row[0], id: row[1], kind: AlertKind(rawValue: row[2]) ?? .trouble,
            priority: AlertPriority(rawValue: row[3]) ?? .telemetry, body: [UInt8](row[4] as Data),
            acceptedAt: .init(nanosecondsSinceEpoch: row[5]), attempts: row[6],
            nextAttemptAt: .init(nanosecondsSinceEpoch: row[7]), lastError: row[8])
    }

    /// The earliest time a deferred pending alert becomes due, if any.
    public func nextDue(destination: String) throws(OutboxError) -> WallTime? {
        let u = unwritten.value
        do {
            if !u.changes.isEmpty { return try pending(destination: destination).map(\.nextAttemptAt).min() }
            let stored = try pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT MIN(next_attempt_ns) FROM deliveries WHERE destination = ? AND state = 'pending'", arguments: [destination])
            }.map { WallTime(nanosecondsSinceEpoch: $0) }
            let held = u.pending(destination: destination, dueBy: nil).map(\.nextAttemptAt).min()
            switch (stored, held) {
            case (let s?, let h?): return min(s, h)
            default: return stored ?? held
            }
        } catch {
            throw OutboxError(operation: "read next due", path: path, underlying: "\(error)")
        }
    }

    /// The destination acknowledged the alert: it leaves this destination's queue.
    /// When the disk does not take the change it is kept in memory and
    /// written later; this throws only for what no retry can mend.
    public func markDelivered(sequence: Int64, destination: String, at now: WallTime) throws(OutboxError) {
        try record(sequence: sequence, destination: destination, what: "mark \(sequence) delivered to \(destination)") { d in
            d.deliveredAt = now
            d.attempts += 1
            d.lastError = nil
        } stored: { db in
            try db.execute(sql: """
                UPDATE deliveries SET state = 'delivered', delivered_at_ns = ?, attempts = attempts + 1, last_error = NULL
                WHERE destination = ? AND sequence = ?
                """, arguments: [now.nanosecondsSinceEpoch, destination, sequence])
        }
    }

    /// The destination refused or failed this alert: it stays pending and is
    /// not tried again before `until`.
    public func postpone(sequence: Int64, destination: String, until: WallTime, error reason: String) throws(OutboxError) {
        let reason = String(reason.prefix(500))
        try record(sequence: sequence, destination: destination, what: "defer \(sequence) for \(destination)") { d in
            guard d.deliveredAt == nil else { return }
            d.attempts += 1
            d.nextAttemptAt = until
            d.lastError = reason
        } stored: { db in
            try db.execute(sql: """
                UPDATE deliveries SET attempts = attempts + 1, next_attempt_ns = ?, last_error = ?
                WHERE destination = ? AND sequence = ? AND state = 'pending'
                """, arguments: [until.nanosecondsSinceEpoch, reason, destination, sequence])
        }
    }

    /// Makes every deferred alert due now (a technician's "retry now").
    public func retryNow(destination: String? = nil) throws(OutboxError) -> Int {
        let held = writeLock.withLock {
            unwritten.mutate { u -> Int in
                var n = 0
                for i in u.alerts.indices {
                    for (dest, var d) in u.alerts[i].deliveries where d.deliveredAt == nil && (destination == nil || dest == destination) {
                        d.nextAttemptAt = WallTime(nanosecondsSinceEpoch: 0)
                        u.alerts[i].deliveries[dest] = d
                        n += 1
                    }
                }
                for (key, var c) in u.changes where c.deliveredAt == nil && (destination == nil || key.destination == destination) {
                    c.nextAttemptAt = WallTime(nanosecondsSinceEpoch: 0)
                    u.changes[key] = c
                }
                return n
            }
        }
        do {
            return held + (try pool.write { db in
                if let destination {
                    try db.execute(sql: "UPDATE deliveries SET next_attempt_ns = 0 WHERE state = 'pending' AND destination = ?", arguments: [destination])
                } else {
                    try db.execute(sql: "UPDATE deliveries SET next_attempt_ns = 0 WHERE state = 'pending'")
                }
                return db.changesCount
            })
        } catch {
            throw OutboxError(operation: "retry now", path: path, underlying: "\(error)")
        }
    }

    // MARK: Looking

    /// Queue depth and age per destination.
    public func summary() throws(OutboxError) -> [QueueSummary] {
        let u = unwritten.value
        do {
            let stored = try pool.read { db in
                try destinations.map { dest in
                    let row = try Row.fetchOne(db, sql: """
                        SELECT
                          SUM(d.state = 'pending'),
                          SUM(d.state = 'pending' AND a.priority = 0),
                          MIN(CASE WHEN d.state = 'pending' THEN a.accepted_at_ns END),
                          SUM(d.state = 'delivered')
                        FROM deliveries d JOIN alerts a USING(sequence) WHERE d.destination = ?
                        """, arguments: [dest])
                    let oldest: Int64? = row?[2]
                    return QueueSummary(
                        destination: dest, pending: row?[0] ?? 0, pendingAlarms: row?[1] ?? 0,
                        oldestPendingAcceptedAt: oldest.map { WallTime(nanosecondsSinceEpoch: $0) },
                        delivered: row?[3] ?? 0)
                }
            }
            if u.isEmpty { return stored }
            return stored.map { q in
                var q = q
                let held = u.pending(destination: q.destination, dueBy: nil)
                let settled = u.changes.filter { $0.key.destination == q.destination && $0.value.deliveredAt != nil }.count
                q.pending += held.count - settled
                q.pendingAlarms += held.filter { $0.priority == .alarm }.count
                q.delivered += u.alerts.count - held.count + settled
                q.unwritten = held.count
                if let oldest = held.map(\.acceptedAt).min(), q.oldestPendingAcceptedAt.map({ oldest < $0 }) ?? true {
                    q.oldestPendingAcceptedAt = oldest
                }
                return q
            }
        } catch {
            throw OutboxError(operation: "summarise", path: path, underlying: "\(error)")
        }
    }

    /// SQLite's `synchronous` on the writing connection (2 is FULL).
    public func synchronousMode() throws(OutboxError) -> Int {
        do { return try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 } }
        catch { throw OutboxError(operation: "read synchronous", path: path, underlying: "\(error)") }
    }

    /// The highest sequence number ever accepted.
    public func lastSequence() throws(OutboxError) -> Int64 {
        let held = unwritten.value.lastAssigned
        do { return max(held, try pool.read { db in try OutboxSchema.meta(db, "last_sequence") }) }
        catch { throw OutboxError(operation: "read last sequence", path: path, underlying: "\(error)") }
    }

    /// How many telemetry alerts were evicted, ever.
    public func evictedTelemetry() throws(OutboxError) -> Int64 {
        let dropped = unwritten.value.droppedTelemetry
        do { return dropped + (try pool.read { db in try OutboxSchema.meta(db, "evicted_telemetry") }) }
        catch { throw OutboxError(operation: "read eviction count", path: path, underlying: "\(error)") }
    }

    /// The stored alert with `id` (full or a unique prefix) or `sequence`.
    public func alert(matching key: String) throws(OutboxError) -> Alert? {
        do {
            return try pool.read { db in
                let body: Data?
                if let seq = Int64(key) {
                    body = try Data.fetchOne(db, sql: "SELECT body FROM alerts WHERE sequence = ?", arguments: [seq])
                } else {
                    // A prefix compared as text: `%` and `_` are characters, not wildcards.
                    body = try Data.fetchOne(db, sql: "SELECT body FROM alerts WHERE substr(id, 1, length(?1)) = ?1 ORDER BY sequence LIMIT 1", arguments: [key])
                }
                return try body.map { try WireFormat.decode(Alert.self, from: [UInt8]($0)) }
            }
        } catch {
            throw OutboxError(operation: "look up \(key)", path: path, underlying: "\(error)")
        }
    }

    /// Drops alerts every destination has finished with, keeping the newest
    /// `keep` for inspection. Pending alerts are never touched.
    @discardableResult
    public func prune(keep: Int = 10_000) throws(OutboxError) -> Int {
        var total = 0
        while true {
            let n = try pruneStep(OutboxRetention(keepDays: 36_500, keepRows: keep), now: WallTime(nanosecondsSinceEpoch: 0), batch: 10_000)
            total += n
            if n < 10_000 { return total }
        }
    }

    /// Deletes up to `?3` alerts older than `?1` (ns) or below sequence `?2`
    /// that no destination has pending (their deliveries go by cascade).
    static let pruneStatement = """
        DELETE FROM alerts WHERE sequence IN (
          SELECT a.sequence FROM alerts a
          WHERE (a.accepted_at_ns < ? OR a.sequence < ?)
            AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.sequence = a.sequence AND d.state = 'pending')
          ORDER BY a.sequence LIMIT ?)
        """

    /// One small step of pruning: deletes at most `batch` alerts that no
    /// destination still has pending and that are either older than
    /// `retention.keepDays` or outside the newest `retention.keepRows`, then
    /// gives up to that many free pages back to the filesystem (the file is
    /// in incremental auto-vacuum). One short transaction, so the writer
    /// that commits new alerts waits at most that long. Returns how many
    /// alerts went; call again while it returns `batch`.
    @discardableResult
    public func pruneStep(_ retention: OutboxRetention, now: WallTime, batch: Int = 1_000) throws(OutboxError) -> Int {
        do {
            let cutoff = now.nanosecondsSinceEpoch.saturatingSubtract(Int64(retention.keepDays).saturatingMultiply(86_400_000_000_000))
            let deleted = try pool.write { db -> Int in
                // The keepRows-th newest alert: any older one is beyond the row limit.
                let floor = try Int64.fetchOne(db, sql: "SELECT sequence FROM alerts ORDER BY sequence DESC LIMIT 1 OFFSET ?",
                                               arguments: [max(0, retention.keepRows - 1)]) ?? Int64.min
                try db.execute(sql: Self.pruneStatement, arguments: [cutoff, floor, batch])
                return db.changesCount
            }
            if deleted > 0 {
                // Outside the transaction: incremental_vacuum cannot run in one.
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA incremental_vacuum(\(max(64, batch / 4)))") }
            }
            return deleted
        } catch {
            throw OutboxError(operation: "prune", path: path, underlying: "\(error)")
        }
    }

    /// Marks several alerts delivered to `destination` in one transaction
    /// (a batch the receiver acknowledged together).
    public func markDelivered(sequences: [Int64], destination: String, at now: WallTime) throws(OutboxError) {
        guard !sequences.isEmpty else { return }
        if hasUnwritten {
            for s in sequences { try markDelivered(sequence: s, destination: destination, at: now) }
            return
        }
        do {
            try pool.write { db in
                let update = try db.cachedStatement(sql: """
                    UPDATE deliveries SET state = 'delivered', delivered_at_ns = ?, attempts = attempts + 1, last_error = NULL
                    WHERE destination = ? AND sequence = ?
                    """)
                for s in sequences { try update.execute(arguments: [now.nanosecondsSinceEpoch, destination, s]) }
            }
        } catch let e as DatabaseError where Self.isUnwritable(e) {
            // The disk refused: keep each outcome in memory until it takes them.
            for s in sequences { try markDelivered(sequence: s, destination: destination, at: now) }
        } catch {
            throw OutboxError(operation: "mark \(sequences.count) alerts delivered to \(destination)", path: path, underlying: "\(error)")
        }
    }

    /// Bytes on disk: the database file and its write-ahead log.
    public func fileSizes() -> (database: Int64, wal: Int64) {
        func size(_ p: String) -> Int64 { ((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? NSNumber)?.int64Value ?? 0 }
        return (size(path), size(path + "-wal"))
    }

    /// Alerts stored (delivered or not).
    public func storedCount() throws(OutboxError) -> Int {
        do { return try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM alerts") ?? 0 } }
        catch { throw OutboxError(operation: "count", path: path, underlying: "\(error)") }
    }
}

/// How long delivered alerts are kept in the outbox (for `panicctl queue
/// show` and salvage): at most the newest `keepRows`, and none older than
/// `keepDays`, whichever keeps fewer. Undelivered alerts are never pruned.
public struct OutboxRetention: Sendable, Equatable {
    public var keepDays: Int
    public var keepRows: Int
    public init(keepDays: Int = 30, keepRows: Int = 10_000) {
        self.keepDays = keepDays
        self.keepRows = keepRows
    }
}
