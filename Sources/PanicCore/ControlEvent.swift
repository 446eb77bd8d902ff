/// An event the gateway streams to a control-socket client (`panicctl
/// watch`, `panicctl test`): typed on both sides, a JSON object with a
/// `"type"` on the wire. A client reading a newer daemon's event it does not
/// know gets nil from `init(json:)` and skips it.
public enum ControlEvent: Sendable, Equatable {
    /// A raw edge as the loop read it.
    case edge(input: String, level: Int, monoNs: Int64, readLatencyUs: Int64, wall: String)
    /// A press or release decided by the debouncer.
    case decision(Decision)
    case trouble(input: String, cause: String, cleared: Bool, wall: String)
    case openLoop(input: String, cleared: Bool, wall: String)
    case accepted(id: String, sequence: Int64, kind: String, input: String?, test: Bool, wall: String)
    case delivered(id: String, sequence: Int64, destination: String, wall: String)
    /// `watch` started, on these inputs.
    case watching(inputs: [String])
    /// Events the client was too slow for.
    case dropped(count: Int)
    /// `test` is waiting for the press.
    case ready(input: String, message: String, timeoutSeconds: Double)

    public struct Decision: Sendable, Equatable {
        public var pressed: Bool
        public var input: String
        public var firstEdgeMonoNs: Int64
        public var decidedMonoNs: Int64
        public var edges: Int
        public var bounceMs: Double
        public var firstEdgeWall: String
        public var wall: String

        public init(pressed: Bool, input: String, firstEdgeMonoNs: Int64, decidedMonoNs: Int64, edges: Int, bounceMs: Double,
                    firstEdgeWall: String, wall: String) {
            self.pressed = pressed
            self.input = input
            self.firstEdgeMonoNs = firstEdgeMonoNs
            self.decidedMonoNs = decidedMonoNs
            self.edges = edges
            self.bounceMs = bounceMs
            self.firstEdgeWall = firstEdgeWall
            self.wall = wall
        }
    }

    /// The input the event is about, if any (for `watch`'s filter).
    public var input: String? {
        switch self {
        case .edge(let i, _, _, _, _), .trouble(let i, _, _, _), .openLoop(let i, _, _), .ready(let i, _, _): i
        case .decision(let d): d.input
        case .accepted(_, _, _, let i, _, _): i
        case .delivered, .watching, .dropped: nil
        }
    }

    /// The wire name.
    public var type: String {
        switch self {
        case .edge: "edge"
        case .decision(let d): d.pressed ? "press" : "release"
        case .trouble(_, _, let cleared, _): cleared ? "trouble-cleared" : "trouble"
        case .openLoop(_, let cleared, _): cleared ? "open-loop-cleared" : "open-loop"
        case .accepted: "accepted"
        case .delivered: "delivered"
        case .watching: "watching"
        case .dropped: "dropped"
        case .ready: "ready"
        }
    }

    /// The JSON object sent.
    public var json: [String: Any] {
        var o: [String: Any] = ["type": type]
        switch self {
        case .edge(let input, let level, let mono, let latency, let wall):
            o.merge(["input": input, "level": level, "mono_ns": mono, "read_latency_us": latency, "wall": wall]) { $1 }
        case .decision(let d):
            o.merge(["input": d.input, "first_edge_mono_ns": d.firstEdgeMonoNs, "decided_mono_ns": d.decidedMonoNs, "edges": d.edges,
                     "bounce_ms": d.bounceMs, "first_edge_wall": d.firstEdgeWall, "wall": d.wall]) { $1 }
        case .trouble(let input, let cause, _, let wall):
            o.merge(["input": input, "cause": cause, "wall": wall]) { $1 }
        case .openLoop(let input, _, let wall):
            o.merge(["input": input, "wall": wall]) { $1 }
        case .accepted(let id, let sequence, let kind, let input, let test, let wall):
            o.merge(["id": id, "sequence": sequence, "kind": kind, "test": test, "wall": wall]) { $1 }
            if let input { o["input"] = input }
        case .delivered(let id, let sequence, let destination, let wall):
            o.merge(["id": id, "sequence": sequence, "destination": destination, "wall": wall]) { $1 }
        case .watching(let inputs):
            o["inputs"] = inputs
        case .dropped(let count):
            o["count"] = count
        case .ready(let input, let message, let timeout):
            o.merge(["input": input, "message": message, "timeout_s": timeout]) { $1 }
        }
        return o
    }

    /// Reads an event from what `JSONSerialization` made of a line; nil for
    /// an unknown type or a field missing or of the wrong kind.
    public init?(json o: [String: Any]) {
        func s(_ k: String) -> String? { o[k] as? String }
        func i(_ k: String) -> Int64? {
            if let n = o[k] as? Int64 { return n }
            if let n = o[k] as? Int { return Int64(n) }
            if let d = o[k] as? Double, d.isFinite, d.magnitude < 9.0e18 { return Int64(d) }
            return nil
        }
        func d(_ k: String) -> Double? { (o[k] as? Double) ?? i(k).map(Double.init) }
        switch s("type") {
        case "edge":
            guard let input = s("input"), let level = i("level"), let mono = i("mono_ns"), let lat = i("read_latency_us"), let wall = s("wall"),
                  let lv = Int(exactly: level) else { return nil }
            self = .edge(input: input, level: lv, monoNs: mono, readLatencyUs: lat, wall: wall)
        case "press", "release":
            guard let input = s("input"), let first = i("first_edge_mono_ns"), let decided = i("decided_mono_ns"), let edges = i("edges"),
                  let e = Int(exactly: edges), let bounce = d("bounce_ms"), let wall = s("wall") else { return nil }
            self = .decision(.init(pressed: s("type") == "press", input: input, firstEdgeMonoNs: first, decidedMonoNs: decided, edges: e,
                                   bounceMs: bounce, firstEdgeWall: s("first_edge_wall") ?? "", wall: wall))
        case "trouble", "trouble-cleared":
            guard let input = s("input"), let cause = s("cause"), let wall = s("wall") else { return nil }
            self = .trouble(input: input, cause: cause, cleared: s("type") == "trouble-cleared", wall: wall)
        case "open-loop", "open-loop-cleared":
            guard let input = s("input"), let wall = s("wall") else { return nil }
            self = .openLoop(input: input, cleared: s("type") == "open-loop-cleared", wall: wall)
        case "accepted":
            guard let id = s("id"), let seq = i("sequence"), let kind = s("kind"), let wall = s("wall") else { return nil }
            self = .accepted(id: id, sequence: seq, kind: kind, input: s("input"), test: o["test"] as? Bool ?? false, wall: wall)
        case "delivered":
            guard let id = s("id"), let seq = i("sequence"), let dest = s("destination"), let wall = s("wall") else { return nil }
            self = .delivered(id: id, sequence: seq, destination: dest, wall: wall)
        case "watching":
            guard let inputs = o["inputs"] as? [String] else { return nil }
            self = .watching(inputs: inputs)
        case "dropped":
            guard let n = i("count"), let c = Int(exactly: n) else { return nil }
            self = .dropped(count: c)
        case "ready":
            guard let input = s("input"), let message = s("message"), let t = d("timeout_s") else { return nil }
            self = .ready(input: input, message: message, timeoutSeconds: t)
        default:
            return nil
        }
    }
}
