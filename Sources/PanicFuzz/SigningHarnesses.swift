import PanicCore
import PanicSigning

/// `signature`: the RFC 9421 header parsers and the verifier, with a fixed
/// trusted key. Input: `Signature-Input \n Signature \n Content-Digest \n
/// body`; a missing line is a missing header. Whatever verifies must bind
/// the body, the method and the target URI: the same headers over another
/// body, method or URI must be refused.
enum SignatureHarness {
    static func run(_ data: [UInt8]) {
        let f = data.fields(0x0A, limit: 4)
        var given = ["content-type": Fixed.contentType]
        let names = ["signature-input", "signature", "content-digest"]
        for (i, name) in names.enumerated() where i < f.count {
            given[name] = String(decoding: f[i], as: UTF8.self)
        }
        let headers = given
        let body = f.count > 3 ? f[3] : []
        let verifier = Fixed.verifier()
        let result = Result { () throws(SignatureError) in try verifier.verify(message(uri: Fixed.alertsURI, headers: headers, body: body), now: Fixed.now) }
        note("verify: \(result)")
        guard case .success(let ok) = result else { return }
        require(ok.gatewayID == Fixed.gatewayID, "verified as \(ok.gatewayID)")
        require(abs(ok.created - Fixed.now.secondsSinceEpoch) <= 300, "created \(ok.created) outside the window")
        let otherBody = body + [0x20]
        require((try? verifier.verify(message(uri: Fixed.alertsURI, headers: headers, body: otherBody), now: Fixed.now)) == nil,
                "a signature verified for another body")
        require((try? verifier.verify(message(uri: Fixed.heartbeatsURI, headers: headers, body: body), now: Fixed.now)) == nil,
                "a signature verified for another target URI")
        let get = SignedMessage(method: "GET", targetURI: Fixed.alertsURI, body: body) { headers[$0] }
        require((try? verifier.verify(get, now: Fixed.now)) == nil, "a signature verified for another method")
    }
}

/// `signed-body`: messages signed with MessageSigner by the trusted key, the
/// body being the input, so verification passes and the body decoders are
/// reached as the receiver reaches them. Verification must pass; a changed
/// body must not.
enum SignedBodyHarness {
    static let nonce = "019a7b3c-1d2e-7f00-8a00-000000000001"

    static func run(_ data: [UInt8]) {
        let verifier = Fixed.verifier()
        for uri in [Fixed.alertsURI, Fixed.heartbeatsURI] {
            let m = signed(data, uri: uri, nonce: nonce)
            let v: VerifiedSignature
            do { v = try verifier.verify(m, now: Fixed.now) } catch {
                fatalError("fuzz property violated: a message MessageSigner signed does not verify: \(error)")
            }
            require(v.nonce == nonce, "nonce \(String(describing: v.nonce))")
            if uri == Fixed.alertsURI {
                if let alert = try? WireFormat.decode(Alert.self, from: m.body) {
                    note("alert, problem: \(alert.wireProblem() ?? "none")")
                    _ = alert.priority
                }
            } else if let beat = try? WireFormat.decode(Heartbeat.self, from: m.body) {
                note("heartbeat, problem: \(beat.wireProblem() ?? "none")")
                if let k = beat.nextPublicKey { _ = try? PublicKey(base64: k) }
            }
        }
        var tampered = signed(data, uri: Fixed.alertsURI, nonce: nonce)
        tampered.body = data.isEmpty ? [0x7B] : Array(data.dropLast()) + [data.last! ^ 0x01]
        require((try? verifier.verify(tampered, now: Fixed.now)) == nil, "a changed body still verified")
    }
}

/// `wire-json`: the alert and heartbeat bodies as JSON, decoded as the
/// receiver decodes them (WireFormat), range-checked (wireProblem), and —
/// when acceptable — encoded again: a second decode and encode must give
/// the same bytes (the first may drop sub-microsecond digits of times).
enum WireJSONHarness {
    static func run(_ data: [UInt8]) {
        if let alert = try? WireFormat.decode(Alert.self, from: data) {
            _ = alert.priority
            if alert.wireProblem() == nil { roundTrip(alert) }
        }
        if let beat = try? WireFormat.decode(Heartbeat.self, from: data) {
            if beat.wireProblem() == nil { roundTrip(beat) }
        }
    }

    static func roundTrip<T: Codable & Equatable>(_ value: T) {
        let once: [UInt8]
        do { once = try WireFormat.encode(value) } catch {
            fatalError("fuzz property violated: an accepted \(T.self) does not encode: \(error)")
        }
        let back: T
        do { back = try WireFormat.decode(T.self, from: once) } catch {
            fatalError("fuzz property violated: an encoded \(T.self) does not decode: \(error)\n\(String(decoding: once, as: UTF8.self))")
        }
        let twice = try! WireFormat.encode(back)
        require(once == twice, "\(T.self) encoding is not stable:\n\(String(decoding: once, as: UTF8.self))\n\(String(decoding: twice, as: UTF8.self))")
    }
}
