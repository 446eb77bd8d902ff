import Foundation
import PanicCore
import PanicSigning

/// `panic-fuzz --write-seeds DIR`: the seeds that need the fixed keys to be
/// made (signed requests); the others are plain files under fuzz/corpus.
enum Seeds {
    static let alert = #"{"accepted_at":"2026-11-29T09:10:11.123456Z","area":1,"clock_synchronized":true,"gateway_id":"embassy-x-gw1","id":"019a7b3c-1d2e-7f00-8a00-000000000001","input":"lobby-panic","kind":"panic","occurred_at":"2026-11-29T09:10:11.100000Z","sequence":42,"site":"Embassy X, chancery","test":false,"version":1,"zone":501}"#

    static func write(to dir: String) {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: dir + "/signature", withIntermediateDirectories: true)
        func put(_ name: String, _ bytes: [UInt8]) {
            _ = fm.createFile(atPath: "\(dir)/signature/\(name)", contents: Data(bytes))
        }
        let body = Array(alert.utf8)
        for (name, signer, created, nonce) in [
            ("valid-alert", Fixed.signer, Fixed.now.secondsSinceEpoch, "019a7b3c-1d2e-7f00-8a00-000000000001"),
            ("unknown-key", Fixed.nextSigner, Fixed.now.secondsSinceEpoch, "n-1"),
            ("too-old", Fixed.signer, Fixed.now.secondsSinceEpoch - 301, "n-2"),
        ] {
            let h = try! signer.sign(method: Fixed.method, targetURI: Fixed.alertsURI, contentType: Fixed.contentType,
                                     body: body, created: created, nonce: nonce)
            put(name, Array("\(h.signatureInput)\n\(h.signature)\n\(h.contentDigest)\n".utf8) + body)
        }
        let h = try! Fixed.signer.sign(method: Fixed.method, targetURI: Fixed.alertsURI, contentType: Fixed.contentType,
                                       body: [], created: Fixed.now.secondsSinceEpoch, nonce: "e")
        put("valid-empty-body", Array("\(h.signatureInput)\n\(h.signature)\n\(h.contentDigest)\n".utf8))
        put("two-signatures", Array("\(h.signatureInput)\nsig0=:AAAA:, \(h.signature)\nsha-512=:AAAA:, \(h.contentDigest)\n".utf8))
        print("wrote \(dir)/signature")
    }
}
