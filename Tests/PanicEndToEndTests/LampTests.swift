import Foundation
import PanicConfig
import PanicConsole
import PanicCore
import PanicGatewayKit
import PanicReceiverKit
import Testing

/// Back to the button: a real gateway and a real receiver with its console,
/// in this process on loopback; the lamp is a file the gateway rewrites.
@Suite(.serialized) struct LampTests {
    @Test func theLampBlinksWhenSentIsSteadyWhenAcknowledgedAndOffWhenResolved() async throws {
        let h = try Harness()
        var console = ReceiverConfig.Console()
        console.bcryptCost = 4
        try await h.startReceiver(certs: nil, console: console)
        let lamp = h.dir + "/lamp-btn"
        let button = try await h.startGateway(scheme: "http", caFile: nil, lampFile: lamp)
        let lamps = try #require(h.gateway?.lamps)
        func level() -> String { (try? String(contentsOfFile: lamp, encoding: .utf8)) ?? "?" }
        #expect(level() == "0\n", "off at start")
        #expect(lamps.states() == ["btn": .off])

        try await h.tap(button)
        try await waitUntil("the lamp to blink") { lamps.states()["btn"] == .blinking }
        var seen = Set<String>()
        let blinkDeadline = Date().addingTimeInterval(3)
        while Date() < blinkDeadline, seen.count < 2 { seen.insert(level()); try await Task.sleep(for: .milliseconds(50)) }
        #expect(seen == ["0\n", "1\n"], "blinking: both levels within 3 s, saw \(seen)")

        let store = try #require(h.console?.store)
        try await waitUntil("the incident at the receiver") { !(h.received.value.isEmpty) }
        let id = try #require(try await store.openIncidents().first?.id)
        let acked = Date()
        _ = try await store.acknowledge(id, by: "olga", at: WallTime(nanosecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1e9)))
        try await waitUntil("the lamp to go steady", timeout: 2) { lamps.states()["btn"] == .steady }
        let latency = Date().timeIntervalSince(acked)
        // Steady means lit and staying lit.
        try await Task.sleep(for: .milliseconds(1_200))
        #expect(level() == "1\n" && lamps.levels()["btn"] == true)
        #expect(latency < 2, "acknowledge → steady took \(latency) s")

        _ = try await store.resolve(id, by: "olga", disposition: .test, note: "", at: WallTime(nanosecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1e9)))
        try await waitUntil("the lamp to go off", timeout: 2) { lamps.states()["btn"] == .off }
        try await waitUntil("the file to say off", timeout: 2) { level() == "0\n" }
        await h.stopGateway()
        await h.stopReceiver()
    }
}
