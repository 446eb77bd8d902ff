import Foundation
import Testing
import Logging
import PanicDevPostgres
import PanicReceiverKit
import PostgresNIO

/// The receiver's two store engines; a receiver test that takes one as its
/// argument runs on both.
enum ReceiverEngine: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgresql
    var description: String { rawValue }
}

/// Runs `body` with a fresh, empty store: an SQLite file, or a new database
/// migrated to the current schema on this test process's private PostgreSQL
/// cluster (made once with initdb, removed at exit; left empty when not
/// `migrated`). A missing server is a
/// failure that says what to install, never a skip.
func withFreshStore<T: Sendable>(_ engine: ReceiverEngine, migrated: Bool = true, _ body: @Sendable (any ReceiverStore) async throws -> T) async throws -> T {
    switch engine {
    case .sqlite:
        return try await body(SQLiteReceiverStore(path: NSTemporaryDirectory() + "/receiver-" + UUID().uuidString + ".db"))
    case .postgresql:
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        // initdb (once) and psql block their thread: not one of the two the
        // tests' tasks share here, or every other test's timing starves.
        let cluster = try await offThePool {
            let cluster = try TestPostgres.cluster.get()
            try cluster.createDatabase(name)
            return cluster
        }
        var logger = Logger(label: "test-postgres")
        logger.logLevel = .error
        let store = try PostgresReceiverStore(.init(host: "127.0.0.1", port: cluster.port, user: cluster.user, database: name, maxConnections: 4),
                                              logger: logger)
        do {
            return try await store.withRunning { store in
                if migrated { _ = try await store.migrate() }
                return try await body(store)
            }
        } catch let error as PSQLError {
            // postgres-nio hides the server's words unless asked for them.
            throw DatabaseSaid(text: String(reflecting: error))
        }
    }
}

/// Runs `body` with a second store on the same file or database as `store`:
/// a restart, or another replica.
func withReopened<T: Sendable>(_ store: any ReceiverStore, _ body: @Sendable (any ReceiverStore) async throws -> T) async throws -> T {
    if let sqlite = store as? SQLiteReceiverStore { return try await body(SQLiteReceiverStore(path: sqlite.path)) }
    let pg = try #require(store as? PostgresReceiverStore)
    var logger = Logger(label: "test-postgres-replica")
    logger.logLevel = .error
    return try await PostgresReceiverStore(pg.settings, logger: logger).withRunning { try await body($0) }
}

/// Runs one SQL statement straight at the store's database, past the store;
/// nil when it succeeded, else the database's words for why not.
func rawSQLRefusal(_ store: any ReceiverStore, _ sql: String) async throws -> String? {
    if let sqlite = store as? SQLiteReceiverStore {
        let path = sqlite.path
        return try await offThePool {
            let p = Process(), err = Pipe()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            p.arguments = [path, sql]
            p.standardError = err
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus == 0 ? nil : String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
    }
    let pg = try #require(store as? PostgresReceiverStore)
    do {
        _ = try await pg.client.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "raw-sql")).collect()
        return nil
    } catch {
        return String(reflecting: error)
    }
}

/// Runs blocking work (a child process, a wait) on a thread of its own,
/// never on the few threads Swift concurrency runs every test's tasks on.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// A PostgreSQL error with what the server said, for the test's report.
struct DatabaseSaid: Error, CustomStringConvertible { var text: String; var description: String { text } }

/// The one cluster of the test process.
enum TestPostgres {
    static let cluster: Result<DevPostgresCluster, any Error> = {
        let made = Result<DevPostgresCluster, any Error> { try DevPostgresCluster() }
        if case .success = made { atexit { if case .success(let c) = TestPostgres.cluster { c.destroy() } } }
        return made
    }()
}
