import Foundation
import PanicCore
import PanicOutbox
import Testing

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "/outbox-test-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func draft(_ kind: AlertKind, restores: AlertKind? = nil, input: String = "lobby") -> AlertDraft {
    AlertDraft(kind: kind, restores: restores, input: input, zone: 501, area: 1,
               occurredAt: .init(secondsSinceEpoch: 1_800_000_000), clockSynchronized: true)
}

let now = WallTime(secondsSinceEpoch: 1_800_000_100)

@Suite("Durable outbox")
struct OutboxTests {
    @Test("every commit is durable: the writing connection runs synchronous=FULL in WAL mode")
    func synchronousFull() throws {
        let o = try Outbox(path: temporaryDirectory() + "/o.db", destinations: ["central"])
        #expect(try o.synchronousMode() == 2)
    }

    @Test("sequence numbers increase and are never reused across reopenings")
    func sequencesSurviveReopen() throws {
        let dir = temporaryDirectory()
        var seen: [Int64] = []
        for _ in 0..<3 {
            let o = try Outbox(path: dir + "/o.db", destinations: ["central"])
            seen += try o.accept([draft(.panic), draft(.restore, restores: .panic)], gatewayID: "gw", site: "s", at: now).map(\.sequence)
        }
        #expect(seen == [1, 2, 3, 4, 5, 6])
    }

    @Test("what was pending at a restart is still pending, byte for byte")
    func pendingSurvivesRestart() throws {
        let dir = temporaryDirectory()
        let accepted: [Alert]
        do {
            let o = try Outbox(path: dir + "/o.db", destinations: ["central"])
            accepted = try o.accept([draft(.panic), draft(.tamper)], gatewayID: "gw", site: "s", at: now)
        }
        let reopened = try Outbox(path: dir + "/o.db", destinations: ["central"])
        #expect(reopened.openReport.pendingAtStart == 2)
        let pending = try reopened.pending(destination: "central")
        #expect(pending.map(\.id) == accepted.map(\.id))
        let decoded = try pending.map { try WireFormat.decode(Alert.self, from: $0.body) }
        #expect(decoded == accepted)
    }

    @Test("alarms are offered before telemetry, each class in sequence order")
    func alarmsFirst() throws {
        let o = try Outbox(path: temporaryDirectory() + "/o.db", destinations: ["central"])
        _ = try o.accept([draft(.trouble), draft(.panic), draft(.test), draft(.restore, restores: .panic), draft(.restore, restores: .trouble)],
                         gatewayID: "gw", site: "s", at: now)
        let order = try o.pending(destination: "central").map(\.sequence)
        #expect(order == [2, 4, 1, 3, 5])
    }

    @Test("each destination keeps its own delivery state")
    func destinationsAreIndependent() throws {
        let o = try Outbox(path: temporaryDirectory() + "/o.db", destinations: ["a", "b"])
        let alerts = try o.accept([draft(.panic), draft(.duress)], gatewayID: "gw", site: "s", at: now)
        try o.markDelivered(sequence: alerts[0].sequence, destination: "a", at: now)
        #expect(try o.pending(destination: "a").map(\.sequence) == [2])
        #expect(try o.pending(destination: "b").map(\.sequence) == [1, 2])
        let summary = try o.summary()
        #expect(summary.map(\.pending) == [1, 2])
        #expect(summary.map(\.delivered) == [1, 0])
    }

    @Test("a postponed alert is not due until its time, and retry-now makes it due")
    func postponeAndRetryNow() throws {
        let o = try Outbox(path: temporaryDirectory() + "/o.db", destinations: ["central"])
        let a = try o.accept([draft(.panic), draft(.panic)], gatewayID: "gw", site: "s", at: now)
        try o.postpone(sequence: a[0].sequence, destination: "central", until: now + .seconds(30), error: "HTTP 401")
        #expect(try o.deliverable(destination: "central", now: now, limit: 10).map(\.sequence) == [2])
        #expect(try o.pending(destination: "central").first?.lastError == "HTTP 401")
        #expect(try o.retryNow() >= 1)
        #expect(try o.deliverable(destination: "central", now: now, limit: 10).map(\.sequence) == [1, 2])
    }

    @Test("telemetry beyond the bound is evicted oldest first and counted; alarms never are")
    func eviction() throws {
        let o = try Outbox(path: temporaryDirectory() + "/o.db", destinations: ["central"], maximumTelemetry: 100)
        _ = try o.accept((0..<150).map { _ in draft(.trouble) }, gatewayID: "gw", site: "s", at: now)
        _ = try o.accept((0..<300).map { _ in draft(.panic) }, gatewayID: "gw", site: "s", at: now)
        _ = try o.accept((0..<10).map { _ in draft(.test) }, gatewayID: "gw", site: "s", at: now)
        let pending = try o.pending(destination: "central")
        #expect(pending.filter { $0.priority == .alarm }.count == 300)
        #expect(pending.filter { $0.priority == .telemetry }.count == 100)
        #expect(try o.evictedTelemetry() == 60)
        // The oldest telemetry went: the first 60 trouble alerts.
        #expect(pending.filter { $0.priority == .telemetry }.map(\.sequence).min() == 61)
    }

    @Test("pruning keeps every pending alert")
    func pruneKeepsPending() throws {
        let o = try Outbox(path: temporaryDirectory() + "/o.db", destinations: ["central"])
        let a = try o.accept((0..<50).map { _ in draft(.panic) }, gatewayID: "gw", site: "s", at: now)
        for x in a.prefix(40) { try o.markDelivered(sequence: x.sequence, destination: "central", at: now) }
        #expect(try o.prune(keep: 0) == 40)
        #expect(try o.pending(destination: "central").count == 10)
        #expect(try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now).first?.sequence == 51)
    }
}

@Suite("Corrupt outbox")
struct CorruptOutboxTests {
    @Test("a file that is not a database is moved aside and a fresh outbox starts")
    func garbageFile() throws {
        let dir = temporaryDirectory()
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: dir + "/o.db"))
        let o = try Outbox(path: dir + "/o.db", destinations: ["central"])
        let moved = try #require(o.openReport.corruptFileMovedTo)
        #expect(FileManager.default.fileExists(atPath: moved))
        #expect(o.openReport.salvagedAlerts == 0)
        let seq = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now).first?.sequence
        #expect((seq ?? 0) > 1, "sequence numbers jump after a corruption so none is reused")
    }

    @Test("a damaged page is detected; readable alerts are carried over and still pending")
    func damagedPage() throws {
        let dir = temporaryDirectory()
        let path = dir + "/o.db"
        do {
            let o = try Outbox(path: path, destinations: ["central"])
            for _ in 0..<20 { _ = try o.accept((0..<50).map { _ in draft(.panic, input: String(repeating: "x", count: 200)) }, gatewayID: "gw", site: "s", at: now) }
        }
        // Checkpointed on close; damage one page near the end of the file.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size - 3 * 4096 + 100)
        handle.write(Data(repeating: 0xA5, count: 3000))
        try handle.close()
        let o = try Outbox(path: path, destinations: ["central"])
        #expect(o.openReport.corruptFileMovedTo != nil)
        #expect(o.openReport.salvagedAlerts > 0 && o.openReport.salvagedAlerts <= 1000)
        #expect(try o.pending(destination: "central").count == o.openReport.salvagedAlerts)
        let next = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: now).first!.sequence
        #expect(next > 1000)
    }
}
