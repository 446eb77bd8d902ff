import Foundation
import PanicCore

/// Why a signed request was refused. Each names what was wrong.
public enum SignatureError: Error, Equatable, CustomStringConvertible {
    case missingHeader(String)
    case malformed(String)
    case unknownKey(String)
    case missingComponent(String)
    case unsupportedAlgorithm(String)
    case digestMismatch
    case outsideWindow(created: Int64, now: Int64)
    case badSignature(keyID: String)

    public var description: String {
        switch self {
        case .missingHeader(let h): "missing header \(h)"
        case .malformed(let why): "malformed signature: \(why)"
        case .unknownKey(let k): "unknown keyid \"\(k)\": no known gateway has this key"
        case .missingComponent(let c): "signature does not cover \(c)"
        case .unsupportedAlgorithm(let a): "unsupported alg \"\(a)\"; only ed25519 is accepted"
        case .digestMismatch: "content-digest does not match the body"
        case .outsideWindow(let c, let n): "signature created at \(c) is outside the accepted window around \(n) (\(n.saturatingSubtract(c)) s old)"
        case .badSignature(let k): "signature does not verify with key \(k)"
        }
    }

    /// Digest and framing problems are the sender's malformed request (400);
    /// the rest are authentication failures (401).
    public var isAuthenticationFailure: Bool {
        switch self {
        case .missingHeader, .malformed, .digestMismatch: false
        default: true
        }
    }
}

/// A key the receiver trusts, and whose gateway it belongs to.
public struct TrustedKey: Sendable {
    public var gatewayID: String
    public var key: PublicKey
    public init(gatewayID: String, key: PublicKey) {
        self.gatewayID = gatewayID
        self.key = key
    }
}

/// What a good signature proved.
public struct VerifiedSignature: Sendable, Equatable {
    public var gatewayID: String
    public var keyID: String
    public var created: Int64
    public var nonce: String?
}

/// Verifies RFC 9421 ed25519 signatures made by `MessageSigner` (or any
/// implementation covering at least the same components).
public struct SignatureVerifier: Sendable {
    public var keys: [String: TrustedKey]
    /// Oldest accepted `created`, seconds before now.
    public var maximumAge: Int64
    /// Furthest accepted `created` ahead of now (clock skew), seconds.
    public var maximumSkewAhead: Int64

    public init(trusted: [TrustedKey], maximumAge: Int64 = 300, maximumSkewAhead: Int64 = 60) {
        var map: [String: TrustedKey] = [:]
        for t in trusted { map[t.key.keyID] = t }
        self.keys = map
        self.maximumAge = maximumAge
        self.maximumSkewAhead = maximumSkewAhead
    }

    public func verify(_ message: SignedMessage, now: WallTime) throws(SignatureError) -> VerifiedSignature {
        guard let inputHeader = message.header("signature-input") else { throw .missingHeader("Signature-Input") }
        guard let sigHeader = message.header("signature") else { throw .missingHeader("Signature") }
        guard let digest = message.header("content-digest") else { throw .missingHeader("Content-Digest") }
        let (label, params) = try StructuredSignature.parseInput(inputHeader)
        let signature = try StructuredSignature.parseSignature(sigHeader, label: label)
        for c in MessageSigner.components where !params.components.contains(c) { throw .missingComponent(c) }
        if let alg = params.algorithm, alg != "ed25519" { throw .unsupportedAlgorithm(alg) }
        guard let keyID = params.keyID else { throw .malformed("no keyid parameter") }
        guard let created = params.created else { throw .malformed("no created parameter") }
        guard let trusted = keys[keyID] else { throw .unknownKey(keyID) }
        let nowSeconds = now.secondsSinceEpoch
        if created < nowSeconds.saturatingSubtract(maximumAge) || created > nowSeconds.saturatingAdd(maximumSkewAhead) {
            throw .outsideWindow(created: created, now: nowSeconds)
        }
        if let expires = params.expires, expires < nowSeconds { throw .outsideWindow(created: created, now: nowSeconds) }
        guard ContentDigest.matches(digest, body: message.body) else { throw .digestMismatch }
        let base = SignatureBase.build(params: params) { name in
            switch name {
            case "@method": message.method.uppercased()
            case "@target-uri": message.targetURI
            default: name.hasPrefix("@") ? nil : message.header(name)
            }
        }
        guard let base else { throw .malformed("a covered component is absent from the request") }
        guard trusted.key.isValidSignature(signature, for: Array(base.utf8)) else { throw .badSignature(keyID: keyID) }
        return VerifiedSignature(gatewayID: trusted.gatewayID, keyID: keyID, created: created, nonce: params.nonce)
    }
}
