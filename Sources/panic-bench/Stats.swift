import Foundation

/// Percentiles of a sample, in milliseconds.
struct Summary: Codable {
    var count: Int
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double

    init(_ samplesMs: [Double]) {
        let s = samplesMs.sorted()
        func q(_ p: Double) -> Double { s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count) * p).rounded(.down)))] }
        count = s.count
        p50 = q(0.50)
        p90 = q(0.90)
        p99 = q(0.99)
        max = s.last ?? 0
    }

    var line: String { String(format: "n=%d  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms", count, p50, p90, p99, max) }
}

func monotonicMs() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
}

func machineDescription() -> [String: String] {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
    var uts = utsname()
    uname(&uts)
    let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return ["cpu": cpu, "cores": String(ProcessInfo.processInfo.activeProcessorCount),
            "memory_gib": String(format: "%.0f", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824), "kernel": kernel]
}
