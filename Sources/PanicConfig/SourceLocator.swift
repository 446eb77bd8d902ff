/// Finds the line a key was written on. TOMLKit reports lines for syntax
/// errors only, so this reads the text once more, tracking `[table]` and
/// `[[array]]` headers and `key = value` lines (inline tables included).
struct SourceLocator {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var prefix = ""
        var arrayCounts: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let n = index + 1
            let line = Self.stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[[") && line.hasSuffix("]]") {
                let name = String(line.dropFirst(2).dropLast(2)).trimmingCharacters(in: .whitespaces)
                let k = arrayCounts[name, default: 0]
                arrayCounts[name] = k + 1
                prefix = "\(name)[\(k)]"
                record(prefix, n)
                record(name, n)
            } else if line.hasPrefix("[") && line.hasSuffix("]") {
                prefix = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                record(prefix, n)
            } else if let eq = line.firstIndex(of: "=") {
                let key = line[..<eq].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\"", with: "")
                let path = prefix.isEmpty ? key : "\(prefix).\(key)"
                record(path, n)
                let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("{") { recordInline(value, under: path, n) }
            }
        }
    }

    private mutating func record(_ path: String, _ line: Int) {
        if lines[path] == nil { lines[path] = line }
    }

    private mutating func recordInline(_ value: String, under path: String, _ line: Int) {
        var depth = 0
        var token = ""
        var inString = false
        for ch in value {
            if ch == "\"" { inString.toggle() }
            if inString { continue }
            switch ch {
            case "{": depth += 1; token = ""
            case "}", ",": depth -= ch == "}" ? 1 : 0; token = ""
            case "=": if depth == 1 { record("\(path).\(token.trimmingCharacters(in: .whitespaces))", line) }; token = ""
            default: token.append(ch)
            }
        }
    }

    static func stripComment(_ line: String) -> String {
        var inString = false
        var out = ""
        for ch in line {
            if ch == "\"" { inString.toggle() }
            if ch == "#" && !inString { break }
            out.append(ch)
        }
        return out
    }

    /// The line of `path`, or of its nearest written ancestor.
    func line(of path: String) -> Int? {
        var p = path
        while !p.isEmpty {
            if let n = lines[p] { return n }
            guard let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            p = String(p[..<cut])
        }
        return nil
    }
}

import Foundation
