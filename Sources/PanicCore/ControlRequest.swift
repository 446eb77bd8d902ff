import Foundation

/// One request line of the control socket (JSON lines, protocol v1), decoded
/// and checked before anything acts on it. Pure, so it can be fuzzed.
public enum ControlRequest {
    public static let protocolVersion = 1

    /// The command and its arguments, or the error to answer with.
    public static func decode(_ line: [UInt8]) -> Result<(command: String, args: [String: Any]), ControlRequestError> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)), let request = object as? [String: Any] else {
            return .failure(.init(message: "malformed request: expected one JSON object per line"))
        }
        guard request["v"] as? Int == protocolVersion else {
            return .failure(.init(message: "unsupported protocol version \(request["v"].map { "\($0)".escapingControlCharacters } ?? "none"); this daemon speaks v\(protocolVersion)"))
        }
        guard let command = request["cmd"] as? String else { return .failure(.init(message: "missing \"cmd\"")) }
        return .success((command, request["args"] as? [String: Any] ?? [:]))
    }
}

/// Why a control request was refused, as the reply's `error`.
public struct ControlRequestError: Error, Equatable {
    public var message: String
}

/// Range checks for the numbers a control-socket client sends, applied
/// where the request is decoded: a JSON number can be −1e300, 1e19 or NaN,
/// and `Int(x)` of any of those traps.
public enum ControlArguments {
    /// The timeouts a client may ask for, in seconds.
    public static let secondsRange = 1.0...600.0
    public static let secondsProblem = "\"timeout_s\" must be a number of seconds from 1 to 600"

    /// A timeout in seconds: `fallback` when absent, nil when out of range.
    public static func seconds(_ value: Any?, default fallback: Double) -> Double? {
        guard let value else { return fallback }
        let d: Double
        if let v = value as? Double { d = v } else if let v = value as? Int { d = Double(v) } else { return nil }
        return d.isFinite && secondsRange.contains(d) ? d : nil
    }

    /// A whole count: `fallback` when absent, nil when not a whole number in `range`.
    public static func count(_ value: Any?, default fallback: Int, range: ClosedRange<Int>) -> Int? {
        guard let value else { return fallback }
        if let v = value as? Int { return range.contains(v) ? v : nil }
        if let v = value as? Double, v.isFinite, v.rounded() == v, v >= Double(range.lowerBound), v <= Double(range.upperBound) { return Int(v) }
        return nil
    }
}
