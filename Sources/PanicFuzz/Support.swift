import Foundation
import Logging
import PanicCore
import PanicSigning

/// A property the code under test must keep; a violation is a crash that
/// libFuzzer records like any other.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz property violated: \(message())", file: file, line: line) }
}

/// PANIC_FUZZ_VERBOSE=1: harnesses say what they reached (for writing seeds, not for fuzzing).
let verbose = getenv("PANIC_FUZZ_VERBOSE").map { String(cString: $0) == "1" } ?? false

func note(_ text: @autoclosure () -> String) {
    if verbose { print("  [\(selectedHarness?.name ?? "?")] \(text())") }
}

enum Fixed {
    /// Logs nowhere: a harness must not spend its time formatting log lines.
    static let logger = Logger(label: "panic-fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The DC-09 key of the test notes (AES-128).
    static let dc09Key = Array("0123456789ABCDEF".utf8)

    /// 2026-11-29T09:10:11Z, roughly: every signature is made and checked at this instant.
    static let now = WallTime(secondsSinceEpoch: 1_796_000_000)

    static let gatewayID = "embassy-x-gw1"
    static let method = "POST"
    static let alertsURI = "https://receiver.example:8443/v1/alerts"
    static let alertsBatchURI = "https://receiver.example:8443/v1/alerts/batch"
    static let acknowledgementsURI = "https://receiver.example:8443/v1/acknowledgements"
    static let heartbeatsURI = "https://receiver.example:8443/v1/heartbeats"
    static let contentType = "application/json"

    /// Two fixed Ed25519 keys (seeds 01..20 and 65..84 hex): the trusted one
    /// and the one a heartbeat may announce as next.
    static let signingKey = try! SigningKey(pem: """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g
        -----END PRIVATE KEY-----
        """)
    static let nextKey = try! SigningKey(pem: """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOE
        -----END PRIVATE KEY-----
        """)
    static let signer = MessageSigner(key: signingKey)
    static let nextSigner = MessageSigner(key: nextKey)

    static func verifier(gatewayID: String = Fixed.gatewayID) -> SignatureVerifier {
        SignatureVerifier(trusted: [TrustedKey(gatewayID: gatewayID, key: signingKey.publicKey)])
    }
}

/// A request as the receiver sees it: headers by lower-case name.
func message(uri: String, headers: [String: String], body: [UInt8]) -> SignedMessage {
    SignedMessage(method: Fixed.method, targetURI: uri, body: body) { headers[$0] }
}

/// Signs `body` as the gateway would, and returns the request.
func signed(_ body: [UInt8], uri: String, nonce: String, signer: MessageSigner = Fixed.signer, created: Int64? = nil) -> SignedMessage {
    let h = try! signer.sign(method: Fixed.method, targetURI: uri, contentType: Fixed.contentType, body: body,
                             created: created ?? Fixed.now.secondsSinceEpoch, nonce: nonce)
    return message(uri: uri, headers: [
        "content-type": Fixed.contentType, "content-digest": h.contentDigest,
        "signature-input": h.signatureInput, "signature": h.signature,
    ], body: body)
}

extension Array where Element == UInt8 {
    /// Splits at `separator` into at most `limit` pieces (the last keeps the rest).
    func fields(_ separator: UInt8, limit: Int) -> [[UInt8]] {
        split(separator: separator, maxSplits: limit - 1, omittingEmptySubsequences: false).map(Array.init)
    }
}

/// Reading inputs in the plain (replay-only) build.
enum Replay {
    static func files(_ path: String) -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return [path] }
        guard isDir.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { path + "/" + $0 }
    }

    static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }
}

/// Runs an async call to its end from the fuzzer's (synchronous) thread.
func blocking<T: Sendable>(_ op: @escaping @Sendable () async -> T) -> T {
    let done = Monitor<T?>(nil)
    Task { let v = await op(); done.update { $0 = v } }
    return done.wait(until: { $0 != nil }) { s, _ in s! }
}

/// Runs a throwing async call to its end from the fuzzer's thread.
func blocking<T: Sendable>(_ op: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
    blocking { () async -> Result<T, any Error> in
        do { return .success(try await op()) } catch { return .failure(error) }
    }
}
