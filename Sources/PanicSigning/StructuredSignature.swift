import Foundation

/// Just enough of RFC 8941 structured fields to read `Signature-Input` and
/// `Signature`: one inner list of plain strings with parameters, and byte
/// sequences. Anything else is refused as malformed.
enum StructuredSignature {
    static func parseInput(_ header: String) throws(SignatureError) -> (label: String, params: SignatureParams) {
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
                guard !quoted, let n = Int64(value) else { throw .malformed("\(key) must be an integer") }
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
