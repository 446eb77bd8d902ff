import Foundation
import PanicCore
import PanicGatewayKit
import PanicReceiverKit
import Testing

/// A gateway's restart reaches the receiver (issue 15: a watchdog restart, a crash or
/// a power cut must be visible in the control room, not only as a silence that a 60 s
/// heartbeat is too slow to show).
@Suite struct RestartReportTests {
    let t0 = WallTime(secondsSinceEpoch: 1_796_000_000)

    func freshDirectory() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("run-marker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func aRunThatNeverShutDownGracefullyIsReportedUncleanAtTheNextStart() throws {
        let dir = try freshDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, e1) = RunMarker.begin(stateDirectory: dir, startedAt: t0)
        #expect(e1 == nil && first.previousStop == "clean", "no marker: the first start")
        #expect(FileManager.default.fileExists(atPath: dir + "/running"))
        // killed: end() never ran
        let (second, _) = RunMarker.begin(stateDirectory: dir, startedAt: t0 + .seconds(30))
        #expect(second.previousStop == "unclean")
        second.end()
        #expect(!FileManager.default.fileExists(atPath: dir + "/running"))
        let (third, _) = RunMarker.begin(stateDirectory: dir, startedAt: t0 + .seconds(60))
        #expect(third.previousStop == "clean", "after a graceful shutdown")
    }

    @Test func aMarkerThatCannotBeWrittenIsSaidNotHidden() {
        let (m, problem) = RunMarker.begin(stateDirectory: "/proc/no-such-dir", startedAt: t0)
        #expect(m.previousStop == "clean")
        #expect(problem?.contains("cannot write /proc/no-such-dir/running") == true)
    }

    func beat(_ n: Int, restart: Heartbeat.RestartNotice?) -> Heartbeat {
        Heartbeat(id: "hb-\(n)", gatewayID: "gw-1", site: "Embassy A", sentAt: t0 + .seconds(Int64(n)), intervalSeconds: 60, lastSequence: 0,
                  queue: [], inputs: [], clockSynchronized: true, evictedTelemetry: 0, restart: restart)
    }

    @Test func theNoticeTravelsInTheHeartbeatAndOnlyKnownValuesPass() throws {
        let notice = Heartbeat.RestartNotice(previousStop: "unclean", startedAt: t0)
        var b = beat(1, restart: notice)
        b.id = "01934a4e-2f00-7000-8000-000000000001"
        let decoded = try WireFormat.decode(Heartbeat.self, from: try WireFormat.encode(b))
        #expect(decoded.restart == notice)
        #expect(decoded.wireProblem() == nil)
        b.restart?.previousStop = "unclean\n<0>forged"
        #expect(b.wireProblem() == "restart.previous_stop must be clean or unclean")
        let old = try WireFormat.decode(Heartbeat.self, from: Array(#"{"version":1,"id":"x","kind":"heartbeat","gateway_id":"g","site":"s","sent_at":"2026-12-04T00:00:00Z","interval_s":60,"last_sequence":0,"queue":[],"inputs":[],"clock_synchronized":true,"evicted_telemetry":0}"#.utf8))
        #expect(old.restart == nil, "a heartbeat from an older gateway has none")
    }

    @Test(arguments: ReceiverEngine.allCases) func theReceiverRecordsEachRestartOnceAndNotOnAReplay(_ engine: ReceiverEngine) async throws {
        try await withFreshStore(engine) { s in
            let first = try await s.events(after: 0).count
            _ = try await s.recordHeartbeat(beat(1, restart: .init(previousStop: "unclean", startedAt: t0)), at: t0, nonceCreated: t0.secondsSinceEpoch, forgetNoncesBefore: 0)
            // The same heartbeat again (a replay): nothing.
            #expect(try await s.recordHeartbeat(beat(1, restart: .init(previousStop: "unclean", startedAt: t0)), at: t0 + .seconds(1), nonceCreated: t0.secondsSinceEpoch, forgetNoncesBefore: 0) == nil)
            _ = try await s.recordHeartbeat(beat(2, restart: nil), at: t0 + .seconds(60), nonceCreated: t0.secondsSinceEpoch + 60, forgetNoncesBefore: 0)
            _ = try await s.recordHeartbeat(beat(3, restart: .init(previousStop: "clean", startedAt: t0 + .seconds(100))), at: t0 + .seconds(120), nonceCreated: t0.secondsSinceEpoch + 120, forgetNoncesBefore: 0)
            let restarts = try await s.events(after: 0).dropFirst(first).filter { $0.type == "restart" }
            #expect(restarts.count == 2)
            #expect(restarts.first?.text.contains("after an unclean stop") == true)
            #expect(restarts.first?.text.contains(t0.rfc3339) == true)
            #expect(restarts.last?.text.contains("after a clean stop") == true)
            #expect(restarts.allSatisfy { $0.gatewayID == "gw-1" })
        }
    }
}
