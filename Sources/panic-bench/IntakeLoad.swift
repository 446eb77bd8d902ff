import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import PanicCore
import PanicSigning

/// One gateway of the load: its id and signing key, registered with every
/// receiver of the run.
struct BenchGateway: Sendable {
    let id: String
    let key: SigningKey
    let signer: MessageSigner

    init(id: String) {
        self.id = id
        key = SigningKey.generate()
        signer = MessageSigner(key: key)
    }

    /// Alerts with these sequence numbers, signed now (RFC 9421, as the
    /// gateway signs them) for `url`, so the load loop only sends.
    func signedAlerts(_ sequences: ClosedRange<Int64>, url: String, ids: AlertIDGenerator) throws -> [BenchRequest] {
        let now = WallTime(nanosecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1e9))
        return try sequences.map { sequence in
            let alert = Alert(id: ids.next(at: now), gatewayID: id, site: "bench", sequence: sequence, kind: .panic,
                              input: "b", zone: 1, occurredAt: now, acceptedAt: now, clockSynchronized: true)
            let body = try WireFormat.encode(alert)
            let headers = try signer.sign(method: "POST", targetURI: url, contentType: "application/json", body: body,
                                          created: now.secondsSinceEpoch, nonce: alert.id)
            return BenchRequest(url: url, signed: (headers, body))
        }
    }
}

/// A request of the load: a signed alert, or (no body) a GET, the baseline.
struct BenchRequest: Sendable {
    let url: String
    let signed: (headers: SignatureHeaders, body: [UInt8])?
}

/// What one run of the load measured.
struct LoadResult {
    var seconds: Double
    var latenciesMs: [Double]
    var statuses: [Int: Int]
    var requests: Int { latenciesMs.count }
    var rate: Double { Double(requests) / max(seconds, 1e-9) }
    var summary: Summary { Summary(latenciesMs) }
    /// "201×9600" and, when anything else came back, the rest; -1 is no answer.
    var statusLine: String { statuses.sorted { $0.key < $1.key }.map { "\($0.key == -1 ? "no answer" : String($0.key))×\($0.value)" }.joined(separator: " ") }
}

/// Sends lanes of requests at the receivers, one task and one keep-alive
/// TLS connection per lane, each lane in order (as one gateway sends), all
/// lanes at once.
final class LoadGenerator: Sendable {
    private let client: HTTPClient

    init(caFile: String, connections: Int) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        var config = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .seconds(30)))
        config.httpVersion = .http1Only
        config.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    func run(_ lanes: [[BenchRequest]]) async -> LoadResult {
        let start = monotonicMs()
        let perLane = await withTaskGroup(of: ([Double], [Int: Int]).self) { group in
            for lane in lanes {
                group.addTask { [client] in
                    var latencies: [Double] = []
                    var statuses: [Int: Int] = [:]
                    latencies.reserveCapacity(lane.count)
                    for r in lane {
                        var request = HTTPClientRequest(url: r.url)
                        if let signed = r.signed {
                            let headers = signed.headers
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Content-Digest", value: headers.contentDigest)
                            request.headers.add(name: "Signature-Input", value: headers.signatureInput)
                            request.headers.add(name: "Signature", value: headers.signature)
                            request.body = .bytes(ByteBuffer(bytes: signed.body))
                        }
                        let t = monotonicMs()
                        var status = -1
                        if let response = try? await client.execute(request, timeout: .seconds(30)),
                           (try? await response.body.collect(upTo: 64 * 1024)) != nil {
                            status = Int(response.status.code)
                        }
                        latencies.append(monotonicMs() - t)
                        statuses[status, default: 0] += 1
                    }
                    return (latencies, statuses)
                }
            }
            var all: [([Double], [Int: Int])] = []
            for await lane in group { all.append(lane) }
            return all
        }
        let seconds = (monotonicMs() - start) / 1000
        var statuses: [Int: Int] = [:]
        for (_, s) in perLane { statuses.merge(s, uniquingKeysWith: +) }
        return LoadResult(seconds: seconds, latenciesMs: perLane.flatMap(\.0), statuses: statuses)
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}
