import Foundation
import PanicCore
@testable import PanicSigning
import Testing

let body = Array(#"{"id":"0190d3a4-0000-7000-8000-000000000000","kind":"panic"}"#.utf8)
let target = "https://receiver.example:8443/v1/alerts"
let created: Int64 = 1_800_000_000
let at = WallTime(secondsSinceEpoch: created + 2)

func message(_ h: SignatureHeaders, body: [UInt8] = body, method: String = "POST", target: String = target, contentType: String = "application/json") -> SignedMessage {
    let headers = ["content-type": contentType, "content-digest": h.contentDigest, "signature-input": h.signatureInput, "signature": h.signature]
    return SignedMessage(method: method, targetURI: target, body: body) { headers[$0] }
}

@Suite("RFC 9421 signatures")
struct SigningTests {
    let key = SigningKey.generate()
    var verifier: SignatureVerifier { SignatureVerifier(trusted: [TrustedKey(gatewayID: "gw-1", key: key.publicKey)]) }

    func sign(created c: Int64 = created) throws -> SignatureHeaders {
        try MessageSigner(key: key).sign(method: "POST", targetURI: target, contentType: "application/json", body: body, created: c, nonce: "n-1")
    }

    @Test("a signed request verifies and names its gateway, key and nonce")
    func roundTrip() throws {
        let v = try verifier.verify(message(try sign()), now: at)
        #expect(v == VerifiedSignature(gatewayID: "gw-1", keyID: key.publicKey.keyID, created: created, nonce: "n-1"))
    }

    @Test("the signature input names the required components and parameters in order")
    func inputShape() throws {
        let h = try sign()
        #expect(h.signatureInput == "sig1=(\"@method\" \"@target-uri\" \"content-type\" \"content-digest\");created=\(created);keyid=\"\(key.publicKey.keyID)\";nonce=\"n-1\";alg=\"ed25519\"")
        #expect(h.contentDigest == ContentDigest.sha256(body))
    }

    @Test("a changed body fails the digest")
    func tamperedBody() throws {
        var changed = body
        changed[10] ^= 1
        #expect(throws: SignatureError.digestMismatch) { try verifier.verify(message(try sign(), body: changed), now: at) }
    }

    @Test("a changed body with a recomputed digest fails the signature")
    func tamperedBodyAndDigest() throws {
        var changed = body
        changed[10] ^= 1
        var h = try sign()
        h.contentDigest = ContentDigest.sha256(changed)
        #expect(throws: SignatureError.badSignature(keyID: key.publicKey.keyID)) { try verifier.verify(message(h, body: changed), now: at) }
    }

    @Test("another target, method or content type fails the signature")
    func coveredComponentsMatter() throws {
        let h = try sign()
        for m in [message(h, target: "https://evil.example/v1/alerts"), message(h, method: "PUT"), message(h, contentType: "text/plain")] {
            #expect(throws: SignatureError.badSignature(keyID: key.publicKey.keyID)) { try verifier.verify(m, now: at) }
        }
    }

    @Test("an unknown key is refused by its keyid")
    func unknownKey() throws {
        let other = SignatureVerifier(trusted: [TrustedKey(gatewayID: "gw-2", key: SigningKey.generate().publicKey)])
        #expect(throws: SignatureError.unknownKey(key.publicKey.keyID)) { try other.verify(message(try sign()), now: at) }
    }

    @Test("a stale or future created is outside the window", arguments: [created - 301, created + 61])
    func window(c: Int64) throws {
        let h = try sign(created: c)
        #expect(throws: SignatureError.outsideWindow(created: c, now: created)) {
            try verifier.verify(message(h), now: WallTime(secondsSinceEpoch: created))
        }
    }

    @Test("a signature that does not cover content-digest is refused")
    func missingComponent() throws {
        var h = try sign()
        h.signatureInput = h.signatureInput.replacingOccurrences(of: " \"content-digest\"", with: "")
        #expect(throws: SignatureError.missingComponent("content-digest")) { try verifier.verify(message(h), now: at) }
    }

    @Test("garbage headers are malformed, not crashes", arguments: ["", "sig1", "sig1=", "sig1=(\"@method\"", "sig1=(@method);created=1", "sig1=(\"@method\");created=abc", "sig1=(\"@method\");bogus=1"])
    func malformedInput(text: String) throws {
        var h = try sign()
        h.signatureInput = text
        #expect(throws: SignatureError.self) { try verifier.verify(message(h), now: at) }
    }

    @Test("RFC 9421 appendix B.2.6: the test key gives the published ed25519 signature")
    func rfcTestVector() throws {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n"
        let key = try SigningKey(pem: pem)
        let params = SignatureParams(components: ["date", "@method", "@path", "@authority", "content-type", "content-length"],
                                     created: 1_618_884_473, keyID: "test-key-ed25519")
        let values = ["date": "Tue, 20 Apr 2021 02:07:55 GMT", "@method": "POST", "@path": "/foo", "@authority": "example.com",
                      "content-type": "application/json", "content-length": "18"]
        let base = try #require(SignatureBase.build(params: params) { values[$0] })
        let signature = Data(try key.sign(Array(base.utf8))).base64EncodedString()
        #expect(signature == "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==")
    }
}

@Suite("Key files")
struct KeyFileTests {
    func path() -> String { NSTemporaryDirectory() + "/key-" + UUID().uuidString }

    @Test("a new key file is owner-only, reads back to the same key, and is never overwritten")
    func createAndLoad() throws {
        let p = path()
        let key = SigningKey.generate()
        try KeyFile.create(key, at: p)
        let attributes = try FileManager.default.attributesOfItem(atPath: p)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try KeyFile.load(p).publicKey == key.publicKey)
        #expect(throws: KeyFileError.exists(p)) { try KeyFile.create(.generate(), at: p) }
    }

    @Test("a key file others can read is refused with the fix")
    func refusesWorldReadable() throws {
        let p = path()
        try KeyFile.create(.generate(), at: p)
        chmod(p, 0o644)
        do {
            _ = try KeyFile.load(p)
            Issue.record("loaded a world-readable key")
        } catch {
            #expect(error == .readableByOthers(path: p, mode: "644"))
            #expect(error.description.contains("chmod 600 \(p)"))
        }
    }

    @Test("a missing key file says how to make one; load-or-create makes it")
    func missing() throws {
        let p = path()
        #expect(throws: KeyFileError.missing(p)) { try KeyFile.load(p) }
        let (_, created) = try KeyFile.loadOrCreate(p)
        #expect(created)
        #expect(try KeyFile.loadOrCreate(p).created == false)
    }

    @Test("the PEM is PKCS#8 that OpenSSL reads as an ED25519 key")
    func openSSLReadsIt() throws {
        let p = path()
        try KeyFile.create(.generate(), at: p)
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        proc.arguments = ["pkey", "-in", p, "-noout", "-text"]
        let out = Pipe()
        proc.standardOutput = out
        try proc.run()
        proc.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(proc.terminationStatus == 0)
        #expect(text.contains("ED25519 Private-Key"))
    }
}
