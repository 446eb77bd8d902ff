import Foundation
import Logging
import PanicDevPostgres
import PanicReceiverKit

/// The receiver's two store engines; a receiver test that takes one as its
/// argument runs on both.
enum ReceiverEngine: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgresql
    var description: String { rawValue }
}

/// Runs `body` with a fresh, empty store: an SQLite file, or a new database
/// migrated to the current schema on this test process's private PostgreSQL
/// cluster (made once with initdb, removed at exit). A missing server is a
/// failure that says what to install, never a skip.
func withFreshStore<T: Sendable>(_ engine: ReceiverEngine, _ body: @Sendable (any ReceiverStore) async throws -> T) async throws -> T {
    switch engine {
    case .sqlite:
        return try await body(SQLiteReceiverStore(path: NSTemporaryDirectory() + "/receiver-" + UUID().uuidString + ".db"))
    case .postgresql:
        let cluster = try TestPostgres.cluster.get()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try cluster.createDatabase(name)
        var logger = Logger(label: "test-postgres")
        logger.logLevel = .error
        let store = try PostgresReceiverStore(.init(host: "127.0.0.1", port: cluster.port, user: cluster.user, database: name, maxConnections: 4),
                                              logger: logger)
        return try await store.withRunning { store in
            _ = try await store.migrate()
            return try await body(store)
        }
    }
}

/// The one cluster of the test process.
enum TestPostgres {
    static let cluster: Result<DevPostgresCluster, any Error> = {
        let made = Result<DevPostgresCluster, any Error> { try DevPostgresCluster() }
        if case .success = made { atexit { if case .success(let c) = TestPostgres.cluster { c.destroy() } } }
        return made
    }()
}
