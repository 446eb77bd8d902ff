import Foundation

/// Just enough of RFC 8941 structured fields to read `Signature-Input` and
/// `Signature`: one inner list of plain strings with parameters, and byte
/// sequences. Anything else is refused as malformed.
enum StructuredSignature {
    /// Longest `Signature-Input` or `Signature` header read; ours are ~200 bytes.
    static let maximumHeaderLength = 4_096

    static func parseInput(_ header: String) throws(SignatureError) -> (label: String, params: SignatureParams) {
        guard header.utf8.count <= maximumHeaderLength else { throw .malformed("Signature-Input longer than \(maximumHeaderLength) bytes") }
        let text = header.trimmingCharacters(in: .whitespaces)
        guard let eq = text.firstIndex(of: "=") else { throw .malformed("Signature-Input has no `label=`") }
        let label = String(text[..<eq])
        guard !label.isEmpty, label.allSatisfy({ $0.isLetter || $0.isNumber || "-_.*".contains($0) }) else {
            throw .malformed("bad label in Signature-Input")
        }
        let rest = String(text[text.index(after: eq)...])
        if rest.contains(",") && !rest.hasPrefix("(") { throw .malformed("Signature-Input must hold one signature") }
        guard rest.hasPrefix("("), let close = rest.firstIndex(of: ")") else { throw .malformed("Signature-Input lacks a component list") }
        let inner = rest[rest.index(after: rest.startIndex)..<close]
        var components: [String] = []
        for item in inner.split(separator: " ", omittingEmptySubsequences: true) {
            guard item.count >= 2, item.first == "\"", item.last == "\"" else { throw .malformed("component \(item) is not a plain quoted name") }
            components.append(String(item.dropFirst().dropLast()))
        }
        var params = SignatureParams(components: components, raw: String(rest))
        let paramText = rest[rest.index(after: close)...]
        for part in paramText.split(separator: ";", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { throw .malformed("parameter \(part) has no value") }
            let key = kv[0].trimmingCharacters(in: .whitespaces)
            var value = kv[1].trimmingCharacters(in: .whitespaces)
            let quoted = value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2
            if quoted { value = String(value.dropFirst().dropLast()) }
            switch key {
            case "created", "expires":
                // Range-checked here, where it is decoded: Unix seconds from
                // 0 to 2^40, so every later comparison and difference is safe.
                guard !quoted, let n = Int64(value), SignatureParams.acceptedSeconds.contains(n) else {
                    throw .malformed("\(key) must be an integer number of Unix seconds from 0 to \(SignatureParams.acceptedSeconds.upperBound)")
                }
                if key == "created" { params.created = n } else { params.expires = n }
            case "keyid": params.keyID = value
            case "nonce": params.nonce = value
            case "alg": params.algorithm = value
            case "tag": break
            default: throw .malformed("unknown signature parameter \(key)")
            }
        }
        return (label, params)
    }

    static func parseSignature(_ header: String, label: String) throws(SignatureError) -> [UInt8] {
        guard header.utf8.count <= maximumHeaderLength else { throw .malformed("Signature longer than \(maximumHeaderLength) bytes") }
        for member in header.split(separator: ",") {
            let t = member.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix(label + "=:"), t.hasSuffix(":"), t.count > label.count + 3 else { continue }
            let b64 = t.dropFirst(label.count + 2).dropLast()
            guard let data = Data(base64Encoded: String(b64)) else { throw .malformed("Signature is not base64") }
            return [UInt8](data)
        }
        throw .malformed("Signature has no member labelled \(label)")
    }
}
