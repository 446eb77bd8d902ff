import Foundation
import PanicCore
import Testing

/// Recorded contact traces (Traces/*.trace) replayed through the debouncer.
/// Each file: `# mode=stable window_ms=20 hold_ms=0`, `# expect=press@1000,release@250000`
/// (microseconds of the first edges), then `MICROSECONDS LEVEL` lines.
struct Trace {
    var name: String
    var settings: DebounceSettings
    var expected: [(Bool, Int64)]
    var edges: [(Int64, Bool)]

    static func all() throws -> [Trace] {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Traces")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".trace") }.sorted()
        return try files.map { try parse(String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8), name: $0) }
    }

    static func parse(_ text: String, name: String) throws -> Trace {
        var settings = DebounceSettings(mode: .stable, window: .milliseconds(20))
        var expected: [(Bool, Int64)] = []
        var edges: [(Int64, Bool)] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("#") {
                for field in line.dropFirst().split(separator: " ") {
                    let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2 else { continue }
                    switch kv[0] {
                    case "mode": settings.mode = DebounceSettings.Mode(rawValue: kv[1])!
                    case "window_ms": settings.window = .milliseconds(Int64(kv[1])!)
                    case "hold_ms": settings.hold = .milliseconds(Int64(kv[1])!)
                    case "expect":
                        expected = kv[1] == "none" ? [] : kv[1].split(separator: ",").map { item in
                            let p = item.split(separator: "@")
                            return (p[0] == "press", Int64(p[1])! * 1000)
                        }
                    default: break
                    }
                }
            } else {
                let p = line.split(separator: " ")
                edges.append((Int64(p[0])! * 1000, p[1] == "1"))
            }
        }
        return Trace(name: name, settings: settings, expected: expected, edges: edges)
    }
}

@Suite("Recorded bounce traces")
struct DebounceTraceTests {
    @Test("each recorded trace gives exactly the decisions written in its header")
    func replay() throws {
        let traces = try Trace.all()
        #expect(traces.count >= 5, "the trace files must be bundled")
        for t in traces {
            let end = (t.edges.last?.0 ?? 0) + 2_000_000_000
            let got = runTrace(t.edges, settings: t.settings, until: end).map { ($0.pressed, $0.firstEdge.nanoseconds) }
            #expect(got.map(\.0) == t.expected.map(\.0), "\(t.name): \(got)")
            #expect(got.map(\.1) == t.expected.map(\.1), "\(t.name): \(got)")
        }
    }
}
