import Foundation

/// Why the development PostgreSQL cluster could not be made or used, in
/// words that say what to do.
public struct DevPostgresError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A private PostgreSQL cluster for benchmarks and tests: Debian's
/// postgresql-15 server, made with `initdb` under /tmp and started with
/// `pg_ctl` on a loopback port, as `nobody` when the bench runs as root
/// (PostgreSQL refuses root). Durable as in production: `fsync` and
/// `synchronous_commit` on. Stopped and removed by `destroy()`.
public final class DevPostgresCluster: @unchecked Sendable {
    /// The server's programs (`PANIC_PG_BIN` overrides).
    public static let bin = ProcessInfo.processInfo.environment["PANIC_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
    /// The cluster's directory (data, socket, server log).
    public let base: String
    /// The loopback TCP port it listens on.
    public let port: Int
    /// The superuser (trust authentication on loopback).
    public let user = "panic"
    private let osUser: String?
    private var data: String { base + "/data" }

    /// Makes the cluster with initdb and starts it; `destroy()` removes it.
    public init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.bin + "/initdb") else {
            throw DevPostgresError("\(Self.bin)/initdb is missing: install Debian's PostgreSQL server (`apt-get install postgresql-15`, which `make deps` does) or point PANIC_PG_BIN at its bin directory")
        }
        var template = Array("/tmp/panic-bench-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw DevPostgresError("cannot create a directory under /tmp for the PostgreSQL cluster") }
        base = String(cString: made)
        chmod(base, 0o755)
        port = try Self.freeLoopbackPort()
        if geteuid() == 0 {
            guard let pw = getpwnam("nobody") else { throw DevPostgresError("running as root and there is no user 'nobody' to run PostgreSQL as") }
            osUser = "nobody"
            chown(base, pw.pointee.pw_uid, pw.pointee.pw_gid)
        } else {
            osUser = nil
        }
        try runTool([Self.bin + "/initdb", "-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"])
        let settings = """

            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(base)'
            fsync = on
            synchronous_commit = on
            max_connections = 300
            shared_buffers = 128MB

            """
        let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/postgresql.conf"))
        conf.seekToEndOfFile()
        conf.write(Data(settings.utf8))
        try conf.close()
        try runTool([Self.bin + "/pg_ctl", "-D", data, "-l", base + "/server.log", "-w", "-t", "60", "start"])
    }

    /// A new, empty database.
    public func createDatabase(_ name: String) throws {
        try psql("CREATE DATABASE \(name)")
    }

    /// Runs one SQL statement with psql as the cluster's superuser.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        try runProcess([Self.bin + "/psql", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database,
                        "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    /// The postmaster's process id, while the server runs.
    public var postmasterPID: Int32? {
        guard let text = try? String(contentsOfFile: data + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first else { return nil }
        return Int32(first)
    }

    /// Stops the server at once and removes the cluster's directory.
    public func destroy() {
        _ = try? runTool([Self.bin + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "60", "stop"])
        try? FileManager.default.removeItem(atPath: base)
    }

    /// A loopback TCP port nobody listens on at the moment.
    public static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DevPostgresError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw DevPostgresError("cannot bind a loopback port: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    @discardableResult
    private func runTool(_ args: [String]) throws -> String {
        if let osUser {
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "runuser"
            return try runProcess([runuser, "-u", osUser, "--"] + args)
        }
        return try runProcess(args)
    }
}

/// Runs a program to completion; its standard output, or an error with its
/// standard error when it fails.
///
/// posix_spawn and waitpid, not Foundation's `Process`: `pg_ctl start`
/// leaves the server running with the descriptors it inherited, and
/// `Process` learns of its child's exit from a descriptor the server would
/// then hold open for ever. Output goes through files for the same reason.
@discardableResult
public func runProcess(_ args: [String]) throws -> String {
    let dir = NSTemporaryDirectory() + "/dev-postgres-run-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let outPath = dir + "/out", errPath = dir + "/err"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, args[0], &actions, nil, argv, environ)
    guard spawned == 0 else { throw DevPostgresError("cannot run \(args[0]): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw DevPostgresError("waitpid for \(args[0]) failed: errno \(errno)") }
    }
    let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    // Exited (low 7 bits 0) with code 0 (the next 8 bits).
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
        let errors = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        throw DevPostgresError("\(args.joined(separator: " ")) failed (wait status \(status)): \(errors)\(output)")
    }
    return output
}
