import Foundation
import PanicCore
import PanicPlatform
import PanicDevCerts
import Testing

@Suite("Uplink over real TLS on loopback", .serialized)
struct UplinkTLSTests {
    @Test("a press crosses TLS to a receiver whose certificate the configured CA signed")
    func deliveredOverTLS() async throws {
        let h = try Harness()
        let certs = try DevCertificates.make()
        try await h.startReceiver(certs: certs)
        let ca = try certs.write(to: h.dir).ca
        let button = try await h.startGateway(caFile: ca)
        try await h.tap(button)
        try await waitUntil("press and restore at the receiver") { h.received.value.count == 2 }
        #expect(h.received.value.map(\.kind) == [.panic, .restore])
        #expect(h.received.value.map(\.sequence) == [1, 2])
        try await waitUntil("outbox empty") { try h.pending() == 0 }
        await h.stopGateway()
        await h.stopReceiver()
    }

    @Test("a receiver certificate from another CA is refused, and nothing is lost")
    func foreignCertificateRefused() async throws {
        let h = try Harness()
        let trusted = try DevCertificates.make(caName: "trusted CA")
        let foreign = try DevCertificates.make(caName: "foreign CA")
        try await h.startReceiver(certs: foreign)
        let ca = try trusted.write(to: h.dir).ca
        let button = try await h.startGateway(caFile: ca)
        try await h.tap(button)
        try await waitUntil("a failed TLS attempt") { (h.gateway?.destinations.first?.status.consecutiveFailures ?? 0) >= 2 }
        #expect(h.received.value.isEmpty)
        #expect(try h.pending() == 2)
        #expect(h.gateway?.destinations.first?.status.lastError?.contains("TLS") == true)
        await h.stopGateway()
        // The operator fixes the CA file: the queued alerts go out.
        let fixed = h.dir + "/foreign"
        try FileManager.default.createDirectory(atPath: fixed, withIntermediateDirectories: true)
        _ = try await h.startGateway(caFile: try foreign.write(to: fixed).ca)
        try await waitUntil("queued alerts delivered") { h.received.value.count == 2 }
        #expect(h.received.value.map(\.sequence) == [1, 2])
        await h.stopGateway()
        await h.stopReceiver()
    }

    @Test("an expired receiver certificate and one for another host are refused: nothing is sent, nothing lost, delivered once the certificate is right",
          arguments: [BadCertificate.expired, .otherHost])
    func badServerCertificateRefused(_ bad: BadCertificate) async throws {
        let h = try Harness()
        let now = Date()
        let wrong = switch bad {
        case .expired: try DevCertificates.make(serverValidity: DateInterval(start: now - 10 * 86_400, end: now - 86_400))
        case .otherHost: try DevCertificates.make(serverNames: ["receiver.other-embassy.example"])
        }
        try await h.startReceiver(certs: wrong)
        let ca = try wrong.write(to: h.dir).ca
        let button = try await h.startGateway(caFile: ca)
        try await h.tap(button)
        try await waitUntil("two refused TLS handshakes") { (h.gateway?.destinations.first?.status.consecutiveFailures ?? 0) >= 2 }
        // Refused before a byte of the request: the receiver saw nothing.
        #expect(h.received.value.isEmpty)
        #expect(try h.pending() == 2)
        let error = h.gateway?.destinations.first?.status.lastError ?? ""
        #expect(error.contains("TLS"), "last error: \(error)")
        await h.stopGateway()
        await h.stopReceiver()
        // The receiver gets a right certificate from the same CA: the queue drains.
        let good = try DevCertificates.make()
        try await h.startReceiver(certs: good, certDir: "rcv-right")
        let right = h.dir + "/right"
        try FileManager.default.createDirectory(atPath: right, withIntermediateDirectories: true)
        _ = try await h.startGateway(caFile: try good.write(to: right).ca)
        try await waitUntil("queued alerts delivered") { h.received.value.count == 2 }
        #expect(h.received.value.map(\.sequence) == [1, 2])
        await h.stopGateway()
        await h.stopReceiver()
    }

    enum BadCertificate: String, CustomTestStringConvertible, Sendable {
        case expired, otherHost
        var testDescription: String { rawValue }
    }

    @Test("mutual TLS: a receiver that requires client certificates takes the gateway's, and refuses a gateway without one")
    func mutualTLS() async throws {
        let h = try Harness()
        let server = try DevCertificates.make(caName: "server CA")
        let clients = try DevCertificates.make(caName: "gateway CA")
        let clientDir = h.dir + "/client"
        try FileManager.default.createDirectory(atPath: clientDir, withIntermediateDirectories: true)
        let clientFiles = try clients.write(to: clientDir)
        try await h.startReceiver(certs: server, clientCA: clientFiles.ca)
        let serverCA = try server.write(to: h.dir).ca
        let button = try await h.startGateway(caFile: serverCA)
        try await h.tap(button)
        try await waitUntil("refused handshakes without a client certificate") { (h.gateway?.destinations.first?.status.consecutiveFailures ?? 0) >= 1 }
        #expect(h.received.value.isEmpty)
        await h.stopGateway()
        _ = try await h.startGateway(caFile: serverCA, clientCertificate: (clientFiles.certificate, clientFiles.key))
        try await waitUntil("delivered with the client certificate") { h.received.value.count == 2 }
        await h.stopGateway()
        await h.stopReceiver()
    }

    @Test("a gateway whose clock is an hour off learns the receiver's time from the refusal and delivers at once")
    func wrongClockIsCorrected() async throws {
        let h = try Harness()
        try await h.startReceiver(certs: nil)
        let button = try await h.startGateway(scheme: "http", caFile: nil, clock: SkewedClock(offset: .seconds(-3600)))
        let start = Date()
        try await h.tap(button)
        try await waitUntil("delivered despite the skew") { h.received.value.count == 2 }
        #expect(Date().timeIntervalSince(start) < 2, "corrected on the first refusal, not after back-off")
        #expect(h.rejected.value.contains(401))
        await h.stopGateway()
        await h.stopReceiver()
    }

    @Test("a refusal (unknown key, 401) keeps the alert queued and raises trouble until the receiver accepts")
    func refusalKeepsAlert() async throws {
        let h = try Harness()
        try await h.startReceiver(certs: nil, trust: [.generate()])
        let button = try await h.startGateway(scheme: "http", caFile: nil)
        try await h.tap(button)
        // Heartbeats are refused too; wait until both alerts have been refused.
        try await waitUntil("both alerts refused") {
            try h.gateway?.outbox.pending(destination: "central").filter { $0.attempts > 0 }.count == 2
        }
        #expect(h.rejected.value.allSatisfy { $0 == 401 })
        let status = try #require(h.gateway?.destinations.first?.status)
        #expect(status.refusal?.contains("HTTP 401") == true)
        #expect(try h.pending() == 2)
        #expect(h.received.value.isEmpty)
        // The receiver learns the key; the capped retry delivers both.
        let port = h.port
        await h.stopReceiver()
        try await h.startReceiver(certs: nil, port: port)
        try await waitUntil("delivered after the refusal ends") { h.received.value.count == 2 }
        try await waitUntil("trouble cleared") { h.gateway?.destinations.first?.status.refusal == nil }
        await h.stopGateway()
        await h.stopReceiver()
    }
}

/// The system clock with the wall clock shifted, as on a box without NTP.
struct SkewedClock: GatewayClock {
    let offset: Nanoseconds
    func monotonicNow() -> MonotonicInstant { SystemClock().monotonicNow() }
    func wallNow() -> WallTime { SystemClock().wallNow() + offset }
}
