import Foundation
import PanicCore
import PanicOutbox
import Testing

@Suite("Outbox retention over years")
struct RetentionTests {
    static let day: Int64 = 86_400_000_000_000

    @Test("two years of daily traffic, pruned as it goes: the file levels off, and the undelivered alarm from day one is still there")
    func yearsLevelOff() async throws {
        // Seconds of synchronous SQLite work: on a thread of its own, so the
        // two cooperative threads stay free for the time-driven tests beside it.
        let r = try await onOwnThread { try Self.simulateYears(days: 730, perDay: 40) }
        // 29,200 alerts went through; at most 30 days' worth (1,200, one day more at the edge) stay, plus the stuck alarm.
        #expect(r.stored <= 1_241, "stored \(r.stored)")
        #expect(r.stuckStillThere, "the undelivered alarm was pruned")
        #expect(r.pending == [r.stuckSequence])
        // Levelled off: the last size is within 10 % of the size a year earlier.
        let early = try #require(r.sizes[365]), late = try #require(r.sizes[730])
        #expect(Double(late) <= Double(early) * 1.10, "file grew from \(early) to \(late) bytes: \(r.sizes.sorted { $0.key < $1.key })")
        print("retention: 730 days × 40 alerts; stored at the end \(r.stored); file bytes by day \(r.sizes.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))")
    }

    struct Years: Sendable {
        var stored: Int
        var stuckSequence: Int64
        var stuckStillThere: Bool
        var pending: [Int64]
        var sizes: [Int: Int64]
    }

    static func simulateYears(days: Int, perDay: Int) throws -> Years {
        let dir = temporaryDirectory()
        let o = try Outbox(path: dir + "/o.db", destinations: ["central"], maximumTelemetry: 1_000_000)
        let retention = OutboxRetention(keepDays: 30, keepRows: 2_000)
        let start = WallTime(secondsSinceEpoch: 1_800_000_000)
        // Day 0: an alarm the receiver never acknowledges (refused for ever).
        let stuck = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: start)[0]
        var sizes: [Int: Int64] = [:]
        for d in 1...days {
            let at = start + Nanoseconds(day * Int64(d))
            let drafts = (0..<perDay).map { i in draft(i % 40 == 0 ? .panic : .sensor, input: "in\(i % 8)") }
            let accepted = try o.accept(drafts, gatewayID: "gw", site: "s", at: at)
            try o.markDelivered(sequences: accepted.map(\.sequence), destination: "central", at: at)
            while try o.pruneStep(retention, now: at, batch: 500) == 500 {}
            if d % 73 == 0 { sizes[d] = o.fileSizes().database }
        }
        return Years(stored: try o.storedCount(), stuckSequence: stuck.sequence,
                     stuckStillThere: try o.alert(matching: String(stuck.sequence))?.id == stuck.id,
                     pending: try o.pending(destination: "central").map(\.sequence), sizes: sizes)
    }

    @Test("age and row limits each prune on their own; pending alerts of any destination never go")
    func limits() throws {
        let o = try Outbox(path: temporaryDirectory() + "/o.db", destinations: ["a", "b"])
        let t0 = WallTime(secondsSinceEpoch: 1_800_000_000)
        let old = try o.accept((0..<5).map { _ in draft(.panic) }, gatewayID: "gw", site: "s", at: t0)
        for a in old { try o.markDelivered(sequence: a.sequence, destination: "a", at: t0) }
        for a in old.prefix(4) { try o.markDelivered(sequence: a.sequence, destination: "b", at: t0) }
        // 40 days later: four old ones are past 30 days and delivered everywhere; the fifth is pending at b.
        let later = t0 + Nanoseconds(Self.day * 40)
        #expect(try o.pruneStep(OutboxRetention(keepDays: 30, keepRows: 1_000), now: later) == 4)
        #expect(try o.storedCount() == 1)
        // Row limit: 300 fresh delivered alerts, keep 100.
        let fresh = try o.accept((0..<300).map { _ in draft(.sensor) }, gatewayID: "gw", site: "s", at: later)
        for d in ["a", "b"] { try o.markDelivered(sequences: fresh.map(\.sequence), destination: d, at: later) }
        while try o.pruneStep(OutboxRetention(keepDays: 30, keepRows: 100), now: later, batch: 50) == 50 {}
        #expect(try o.storedCount() == 101)
        #expect(try o.pending(destination: "b").map(\.sequence) == [old[4].sequence])
        // Sequence numbers go on after pruning everything delivered.
        let next = try o.accept([draft(.panic)], gatewayID: "gw", site: "s", at: later)[0]
        #expect(next.sequence == fresh.last!.sequence + 1)
    }
}

/// Runs `work` on a new thread and waits for it without holding a
/// cooperative thread.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let t = Thread {
            do { c.resume(returning: try work()) } catch { c.resume(throwing: error) }
        }
        t.stackSize = 8 << 20
        t.start()
    }
}

@Suite("Outbox file")
struct OutboxFileTests {
    @Test("a new outbox file is in incremental auto-vacuum, so pruned pages go back to the filesystem")
    func incrementalAutoVacuum() throws {
        let path = temporaryDirectory() + "/o.db"
        _ = try Outbox(path: path, destinations: ["central"])
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path, "PRAGMA auto_vacuum"]
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "2")
    }
}
