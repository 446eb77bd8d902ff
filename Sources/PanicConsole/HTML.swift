/// Text placed in HTML: everything in the console that came from a gateway
/// or a configuration (site, input, detail) goes through `escape`.
public enum HTML {
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters (but tab and newline) are shown, not obeyed.
                if ch.value < 0x20 && ch != "\t" && ch != "\n" || ch.value == 0x7f { out += "&#\(ch.value);" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
}
