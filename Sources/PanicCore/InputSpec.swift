/// What the alerting rules need to know of one input; the configuration's
/// source section stays with the input layer.
public struct InputSpec: Sendable, Equatable {
    public var name: String
    public var kind: InputKind
    public var zone: Int
    public var area: Int
    public var contact: ContactType
    public var debounce: DebounceSettings
    /// For a normally-closed loop: open this long without closing again is
    /// also reported as tamper (a cut wire looks like a press that never ends).
    public var openLoopTamperAfter: Nanoseconds?

    public init(name: String, kind: InputKind, zone: Int, area: Int, contact: ContactType, debounce: DebounceSettings,
                openLoopTamperAfter: Nanoseconds? = nil) {
        self.name = name
        self.kind = kind
        self.zone = zone
        self.area = area
        self.contact = contact
        self.debounce = debounce
        self.openLoopTamperAfter = openLoopTamperAfter
    }
}

/// Turns input decisions and device trouble into alert drafts. Pure.
public enum AlertRules {
    /// A press raises the input's alarm kind; a release raises its restore.
    public static func draft(
        for decision: DebounceDecision, of input: InputSpec, occurredAt: WallTime,
        clockSynchronized: Bool, test: Bool
    ) -> AlertDraft {
        let detail = "edges=\(decision.edges) bounce_ms=\(formatMillis(decision.bounce))"
        if test {
            return AlertDraft(
                kind: .test, restores: decision.pressed ? nil : .test, input: input.name, zone: input.zone,
                area: input.area, occurredAt: occurredAt, occurredMonotonic: decision.firstEdge,
                clockSynchronized: clockSynchronized, test: true,
                detail: (decision.pressed ? "test press " : "test release ") + detail)
        }
        return AlertDraft(
            kind: decision.pressed ? input.kind.alertKind : .restore,
            restores: decision.pressed ? nil : input.kind.alertKind,
            input: input.name, zone: input.zone, area: input.area,
            occurredAt: occurredAt, occurredMonotonic: decision.firstEdge,
            clockSynchronized: clockSynchronized, test: false, detail: detail)
    }

    /// A normally-closed loop left open: tamper (cut wire), or its restore.
    public static func openLoop(input: InputSpec, since: WallTime, cleared: Bool, occurredAt: WallTime, clockSynchronized: Bool) -> AlertDraft {
        AlertDraft(
            kind: cleared ? .restore : .tamper, restores: cleared ? .tamper : nil, input: input.name, zone: input.zone,
            area: input.area, occurredAt: cleared ? occurredAt : since, clockSynchronized: clockSynchronized,
            detail: cleared ? "loop closed again" : "normally-closed loop open since \(since.rfc3339): cut wire?")
    }

    /// Device or path trouble, and its restore when `cleared`.
    public static func trouble(
        input: InputSpec?, cause: String, cleared: Bool, occurredAt: WallTime, clockSynchronized: Bool
    ) -> AlertDraft {
        AlertDraft(
            kind: cleared ? .restore : .trouble, restores: cleared ? .trouble : nil,
            input: input?.name, zone: input?.zone, area: input?.area, occurredAt: occurredAt,
            clockSynchronized: clockSynchronized, detail: cause)
    }

    static func formatMillis(_ n: Nanoseconds) -> String {
        let us = n.value / 1000
        return "\(us / 1000).\(String(us % 1000).leftPadded(to: 3))"
    }
}
