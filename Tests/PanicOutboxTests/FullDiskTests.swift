import Foundation
import PanicCore
import PanicOutbox
import Testing

/// A real, small filesystem: a size-limited tmpfs mounted for one test, so
/// the disk can really be filled. Mounting needs root (CI runs as root); a
/// test without it fails and says so.
final class SmallFilesystem {
    let path: String
    private var mounted = false

    init(kibibytes: Int) throws {
        path = temporaryDirectory()
        guard getuid() == 0 else {
            throw Refusal("mounting a size-limited tmpfs needs root: run the tests as root (make test in CI does), or as root with sudo")
        }
        try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kibibytes)k,mode=0700", "tmpfs", path])
        mounted = true
    }

    deinit {
        if mounted { try? Self.run("/bin/umount", ["-l", path]) }
    }

    /// Writes a file of zeros until the filesystem refuses more.
    @discardableResult
    func fill(name: String = "filler") -> Int {
        let fd = open(path + "/" + name, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            total += n
        }
        // Then whatever smaller piece still fits.
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, 1) }) == 1 { total += 1 }
        return total
    }

    func free(name: String = "filler") {
        try? FileManager.default.removeItem(atPath: path + "/" + name)
    }

    static func run(_ tool: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Refusal("\(tool) \(args.joined(separator: " ")) exited \(p.terminationStatus)") }
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}

@Suite("The outbox on a full disk", .serialized)
struct FullDiskTests {
    /// Accepts one alarm at a time until the disk refuses one (WAL frames
    /// already on disk can take a few more commits after the disk is full).
    func acceptUntilHeld(_ o: Outbox, max: Int = 500) -> (durable: [Alert], held: Acceptance?) {
        var durable: [Alert] = []
        for _ in 0..<max {
            let r = o.acceptOrHold([draft(.panic)], gatewayID: "gw", site: "s", at: now)
            if r.unwritten != nil { return (durable, r) }
            durable += r.alerts
        }
        return (durable, nil)
    }

    @Test("the first alarm after the disk fills is still committed: the reserve is given up for it, and made again once there is room")
    func reserveTakesTheFirstAlarms() throws {
        let fs = try SmallFilesystem(kibibytes: 4096)
        let o = try Outbox(path: fs.path + "/outbox.db", destinations: ["central"], reserveBytes: 1 << 20)
        #expect(o.reserveInPlace)
        _ = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now)
        fs.fill()

        var released: Acceptance?
        for _ in 0..<500 {
            let r = o.acceptOrHold([draft(.panic)], gatewayID: "gw", site: "s", at: now)
            #expect(r.unwritten == nil, "the reserve should have made room: \(String(describing: r.unwritten))")
            if r.releasedReserve { released = r; break }
        }
        let r = try #require(released, "no commit ever needed the reserve: the disk never filled")
        #expect(r.alerts.count == 1 && r.alerts[0].durable == nil)
        #expect(!o.reserveInPlace)
        #expect(!o.hasUnwritten)
        let stored = try o.pending(destination: "central")
        #expect(stored.last?.id == r.alerts[0].id && stored.allSatisfy(\.durable))

        // No room for the reserve twice over yet: not made.
        #expect(!o.restoreReserve())
        fs.free()
        #expect(o.restoreReserve())
        #expect(o.reserveInPlace)
    }

    @Test("an alarm the disk refuses is held in memory with its id and sequence, delivered from there, and stored once the disk takes it, delivered, without a second sequence")
    func heldAlarmIsDeliveredAndStoredLater() throws {
        let fs = try SmallFilesystem(kibibytes: 2048)
        let path = fs.path + "/outbox.db"
        let o = try Outbox(path: path, destinations: ["central", "arc"])
        let first = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now)[0]
        fs.fill()

        let (durable, heldResult) = acceptUntilHeld(o)
        let held = try #require(heldResult, "the disk never refused a commit")
        #expect(held.alerts.count == 1)
        let alarm = held.alerts[0]
        #expect(alarm.durable == false)
        #expect(alarm.sequence == first.sequence + Int64(durable.count) + 1)
        #expect(o.hasUnwritten)
        #expect(o.unwrittenAlerts.count == 1)
        #expect(o.unwrittenAlerts.reason?.isEmpty == false)

        // Delivery sees it, after the stored ones, marked so on the wire.
        let pending = try o.pending(destination: "central")
        #expect(pending.map(\.sequence) == [first.sequence] + durable.map(\.sequence) + [alarm.sequence])
        let head = try #require(pending.last)
        #expect(!head.durable)
        #expect(try WireFormat.decode(Alert.self, from: head.body).durable == false)
        #expect(try o.lastSequence() == alarm.sequence)
        #expect(try o.summary().first { $0.destination == "central" }?.unwritten == 1)

        // Outcomes while the disk is full: kept in memory, never thrown.
        try o.markDelivered(sequence: alarm.sequence, destination: "central", at: now)
        for a in [first] + durable { try o.markDelivered(sequence: a.sequence, destination: "central", at: now) }
        try o.postpone(sequence: alarm.sequence, destination: "arc", until: now + .seconds(60), error: "refused: test")
        #expect(try o.pending(destination: "central").isEmpty)
        #expect(try o.deliverable(destination: "arc", now: now, limit: 100).map(\.sequence) == [first.sequence] + durable.map(\.sequence))
        #expect(try o.nextDue(destination: "arc") == WallTime(nanosecondsSinceEpoch: 0))

        // Still full: writing fails and keeps everything.
        #expect(o.writeUnwritten(at: now) != nil)
        #expect(o.hasUnwritten)

        fs.free()
        #expect(o.writeUnwritten(at: now) == nil)
        #expect(!o.hasUnwritten)
        let next = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now)[0]
        #expect(next.sequence == alarm.sequence + 1)

        // What a restart finds: the held alarm stored with its id, delivered
        // to central, postponed for arc; nothing pending twice.
        let reopened = try Outbox(path: path, destinations: ["central", "arc"])
        #expect(try reopened.pending(destination: "central").map(\.sequence) == [next.sequence])
        let arc = try reopened.pending(destination: "arc")
        #expect(arc.map(\.sequence) == [first.sequence] + durable.map(\.sequence) + [alarm.sequence, next.sequence])
        let storedAlarm = try #require(arc.first { $0.sequence == alarm.sequence })
        #expect(storedAlarm.id == alarm.id && storedAlarm.lastError == "refused: test" && storedAlarm.attempts == 1)
        #expect(storedAlarm.nextAttemptAt == now + .seconds(60))
        #expect(try reopened.alert(matching: String(alarm.sequence))?.durable == false)
        #expect(try reopened.lastSequence() == next.sequence)
    }

    @Test("a strict accept on a full disk throws and hands out no sequence number")
    func strictAcceptThrowsWithoutBurningASequence() throws {
        let fs = try SmallFilesystem(kibibytes: 2048)
        let o = try Outbox(path: fs.path + "/outbox.db", destinations: ["central"])
        _ = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now)
        fs.fill()
        var last = try o.lastSequence()
        var threw = false
        for _ in 0..<500 {
            do { last = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now)[0].sequence }
            catch { threw = true; break }
        }
        #expect(threw, "the disk never refused a commit")
        #expect(!o.hasUnwritten)
        fs.free()
        #expect(try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now)[0].sequence == last + 1)
    }
}
