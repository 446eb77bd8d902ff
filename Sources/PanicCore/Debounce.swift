/// How an input turns a noisy contact into presses and releases.
public struct DebounceSettings: Sendable, Equatable {
    /// The three ways a change is decided.
    public enum Mode: String, Sendable, CaseIterable, Equatable {
        /// Report at the first edge, then ignore changes until the line has
        /// been quiet for the window. Lowest latency; a spike is a press.
        case immediate
        /// Report once the new level has held, quiet, for the window.
        case stable
        /// Report a press only after it has been held for `hold`; releases as
        /// in `stable`. For buttons that must not fire on a brush.
        case hold
    }

    public var mode: Mode
    /// Quiet time that ends a bounce train.
    public var window: Nanoseconds
    /// For `.hold`: how long a press must last, measured from its first edge.
    public var hold: Nanoseconds

    public init(mode: Mode, window: Nanoseconds, hold: Nanoseconds = .init(0)) {
        self.mode = mode
        self.window = window
        self.hold = hold
    }
}

/// A press or release the debouncer decided on.
public struct DebounceDecision: Sendable, Equatable, CustomStringConvertible {
    /// The new logical state: `true` for pressed.
    public var pressed: Bool
    /// The first edge that left the previous stable level: when the person
    /// acted, not when the debouncer made up its mind.
    public var firstEdge: MonotonicInstant
    /// When the decision was made.
    public var decidedAt: MonotonicInstant
    /// Edges seen in the train that led here (1 for a clean contact).
    public var edges: Int
    /// From the first to the last edge of that train.
    public var bounce: Nanoseconds

    public init(pressed: Bool, firstEdge: MonotonicInstant, decidedAt: MonotonicInstant, edges: Int, bounce: Nanoseconds) {
        self.pressed = pressed
        self.firstEdge = firstEdge
        self.decidedAt = decidedAt
        self.edges = edges
        self.bounce = bounce
    }

    public var description: String {
        "\(pressed ? "press" : "release") first-edge=\(firstEdge) decided=\(decidedAt) edges=\(edges) bounce=\(bounce)"
    }
}

/// The debounce state machine of one input. Pure: it reads no clock; every
/// edge brings its own timestamp and the owner calls `advance(to:)` when
/// `nextDeadline` passes.
///
/// A *train* starts at the first edge that leaves the reported level and ends
/// once the line has been quiet for the window. Returning to the reported
/// level inside a train does not end it, so bounce never splits a press.
public struct Debouncer: Sendable {
    public let settings: DebounceSettings
    /// The last reported state.
    public private(set) var reported: Bool
    /// The level after the latest edge.
    public private(set) var current: Bool
    private var lastEdge: MonotonicInstant?
    private var trainStart: MonotonicInstant?
    private var trainEdges = 0
    /// `.immediate` only: changes are ignored until then.
    private var lockoutUntil: MonotonicInstant?

    /// - Parameter pressed: the state to start from, normally released; a
    ///   line that is pressed at start arrives as an edge so it is reported.
    public init(settings: DebounceSettings, pressed: Bool = false) {
        self.settings = settings
        self.reported = pressed
        self.current = pressed
    }

    /// When `advance(to:)` must next be called, if anything is pending.
    public var nextDeadline: MonotonicInstant? {
        switch settings.mode {
        case .immediate:
            return lockoutUntil
        case .stable:
            guard trainStart != nil, let last = lastEdge else { return nil }
            return last + settings.window
        case .hold:
            guard let start = trainStart, let last = lastEdge else { return nil }
            let quiet = last + settings.window
            if current && !reported { return max(quiet, start + settings.hold) }
            return quiet
        }
    }

    /// Feeds one edge. `pressed` is the logical level after it (contact type
    /// and active-low already applied). Edges must come in time order; an
    /// older stamp is treated as simultaneous with the previous edge.
    public mutating func edge(pressed: Bool, at stamp: MonotonicInstant) -> [DebounceDecision] {
        var t = stamp
        if let last = lastEdge, t < last { t = last }
        var out: [DebounceDecision] = []
        // Settle whatever fell due before this edge arrived.
        if let due = advance(to: t, strictlyBefore: true) { out.append(due) }

        current = pressed
        lastEdge = t
        switch settings.mode {
        case .immediate:
            if let until = lockoutUntil, t < until {
                lockoutUntil = t + settings.window
                if trainStart == nil, current != reported { trainStart = t; trainEdges = 0 }
                trainEdges += 1
            } else if current != reported {
                reported = current
                out.append(.init(pressed: current, firstEdge: t, decidedAt: t, edges: 1, bounce: .init(0)))
                lockoutUntil = t + settings.window
                trainStart = nil
                trainEdges = 0
            }
        case .stable, .hold:
            if trainStart == nil {
                guard current != reported else { return out }
                trainStart = t
                trainEdges = 0
            }
            trainEdges += 1
        }
        return out
    }

    /// Lets time pass to `now`; returns a decision if one fell due.
    /// `decidedAt` records when the owner actually decided (it may settle
    /// up to a moment slightly in the past to let late edges arrive).
    public mutating func advance(to now: MonotonicInstant, decidedAt: MonotonicInstant? = nil) -> DebounceDecision? {
        advance(to: now, strictlyBefore: false, decidedAt: decidedAt)
    }

    private mutating func advance(to now: MonotonicInstant, strictlyBefore: Bool, decidedAt: MonotonicInstant? = nil) -> DebounceDecision? {
        guard let due = nextDeadline else { return nil }
        if strictlyBefore ? !(due < now) : now < due { return nil }
        let start = trainStart
        let edges = trainEdges
        let last = lastEdge ?? now
        trainStart = nil
        trainEdges = 0
        lockoutUntil = nil
        guard current != reported else { return nil }
        // `.hold`: a press that fell due is by construction held long enough.
        reported = current
        let first = start ?? last
        return .init(pressed: current, firstEdge: first, decidedAt: decidedAt ?? now, edges: max(edges, 1), bounce: last - first)
    }
}
