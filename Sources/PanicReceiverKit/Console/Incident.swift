import PanicCore

/// What an incident in the operator's queue is about. Alarms come from
/// presses; the others from supervision at the receiver.
public enum IncidentKind: String, Sendable, Codable, CaseIterable {
    case panic, duress, tamper, trouble
    /// A gateway's heartbeats stopped.
    case silent
    /// A sequence gap or a reused sequence number: alerts may be missing.
    case sequence
    /// The gateway's clock is not synchronised: its press times may be off.
    case clock

    /// Lower is more urgent: panic and duress above tamper above a silent
    /// gateway above trouble above a sequence anomaly above an unsynchronised clock.
    public var priority: Int {
        switch self {
        case .panic, .duress: 0
        case .tamper: 1
        case .silent: 2
        case .trouble: 3
        case .sequence: 4
        case .clock: 5
        }
    }

    /// The incident an alert of this kind opens, if any (sensor changes,
    /// heartbeats and restores open none).
    public static func opened(by kind: AlertKind) -> IncidentKind? {
        switch kind {
        case .panic: .panic
        case .duress: .duress
        case .tamper: .tamper
        case .trouble: .trouble
        case .restore, .test, .heartbeat, .sensor: nil
        }
    }
}

/// Where an incident is in its handling: new → acknowledged → resolved.
public enum IncidentState: String, Sendable, Codable, CaseIterable {
    case new, acknowledged, resolved
}

/// How an operator closed an incident.
public enum Disposition: String, Sendable, Codable, CaseIterable {
    case genuine
    case falseAlarm = "false-alarm"
    case test
    case technicalFault = "technical-fault"
}

/// One row of the operator's queue: a press, its restore and any repeated
/// presses of the same input while it is open, or one supervision episode.
public struct Incident: Sendable, Equatable, Codable {
    public var id: Int64
    /// Grows with every change to any incident: the console's cursor.
    public var change: Int64
    public var gatewayID: String
    public var site: String
    public var input: String?
    public var kind: IncidentKind
    public var priority: Int
    public var test: Bool
    public var zone: Int?
    public var area: Int?
    /// The first alert's id (nil for supervision incidents).
    public var firstAlertID: String?
    /// The first edge of the first press (or when supervision noticed).
    public var occurredAt: WallTime
    public var receivedAt: WallTime
    public var clockSynchronized: Bool
    /// Presses of this input while the incident was open (1 for the first).
    public var presses: Int
    public var lastAt: WallTime
    /// When the input was released (or the gateway came back).
    public var restoredAt: WallTime?
    public var state: IncidentState
    public var acknowledgedBy: String?
    public var acknowledgedAt: WallTime?
    public var resolvedBy: String?
    public var resolvedAt: WallTime?
    public var disposition: Disposition?
    public var note: String?
    /// The receiver's words for what happened (the event log's text).
    public var detail: String
    /// When nobody had acknowledged it in time and it was escalated.
    public var escalatedAt: WallTime?
    /// Steps of the site's action plan ticked off, by step number (0-based).
    public var steps: [IncidentStep] = []

    public init(id: Int64, change: Int64, gatewayID: String, site: String, input: String?, kind: IncidentKind, priority: Int, test: Bool,
                zone: Int?, area: Int?, firstAlertID: String?, occurredAt: WallTime, receivedAt: WallTime, clockSynchronized: Bool,
                presses: Int, lastAt: WallTime, restoredAt: WallTime?, state: IncidentState, acknowledgedBy: String?, acknowledgedAt: WallTime?,
                resolvedBy: String?, resolvedAt: WallTime?, disposition: Disposition?, note: String?, detail: String, escalatedAt: WallTime? = nil, steps: [IncidentStep] = []) {
        self.id = id; self.change = change; self.gatewayID = gatewayID; self.site = site; self.input = input; self.kind = kind
        self.priority = priority; self.test = test; self.zone = zone; self.area = area; self.firstAlertID = firstAlertID
        self.occurredAt = occurredAt; self.receivedAt = receivedAt; self.clockSynchronized = clockSynchronized; self.presses = presses
        self.lastAt = lastAt; self.restoredAt = restoredAt; self.state = state; self.acknowledgedBy = acknowledgedBy
        self.acknowledgedAt = acknowledgedAt; self.resolvedBy = resolvedBy; self.resolvedAt = resolvedAt
        self.disposition = disposition; self.note = note; self.detail = detail; self.escalatedAt = escalatedAt
        self.steps = steps
    }
}

/// One ticked step of an action plan.
public struct IncidentStep: Sendable, Equatable, Codable {
    public var step: Int
    public var doneBy: String
    public var doneAt: WallTime
    public init(step: Int, doneBy: String, doneAt: WallTime) {
        self.step = step
        self.doneBy = doneBy
        self.doneAt = doneAt
    }
}

/// One escalation waiting for (or after) its webhook.
public struct EscalationDelivery: Sendable, Equatable {
    public var id: Int64
    public var incidentID: Int64
    public var webhook: String
    public var body: [UInt8]
    public var attempts: Int
}

/// One line of the append-only audit log.
public struct AuditEntry: Sendable, Equatable {
    public var number: Int64
    public var at: WallTime
    public var operatorName: String
    public var incidentID: Int64?
    public var action: String
    public var detail: String
}

/// An operator's role: supervisors also see escalations and manage accounts.
public enum OperatorRole: String, Sendable, Codable, CaseIterable {
    case `operator`, supervisor
}

/// An operator account (without its password hash).
public struct OperatorAccount: Sendable, Equatable {
    public var name: String
    public var role: OperatorRole
    public var enabled: Bool
}

/// What a login needs to check a password.
public struct OperatorCredentials: Sendable, Equatable {
    public var name: String
    public var role: OperatorRole
    public var enabled: Bool
    public var passwordHash: String
}

/// A signed-in operator, found by the hash of the session cookie.
public struct ConsoleSession: Sendable, Equatable {
    public var operatorName: String
    public var role: OperatorRole
    /// The token every state change must carry.
    public var csrfToken: String
    public var expiresAt: WallTime
}

/// Why a console change was refused, in words that say what to do.
public enum ConsoleError: Error, Equatable, CustomStringConvertible {
    case operatorExists(String)
    case unknownOperator(String)
    case invalidOperatorName(String)
    case unknownIncident(Int64)
    case wrongState(Int64, IncidentState, wanted: String)
    case noteTooLong(Int)
    case invalidDisposition(String)
    case unknownStep(Int64, Int)

    public var description: String {
        switch self {
        case .operatorExists(let n): return "operator \"\(n)\" exists already; use `panic-receiver operators passwd \(n)` to change the password"
        case .unknownOperator(let n): return "no operator \"\(n)\" (see `panic-receiver operators list`)"
        case .invalidOperatorName(let n): return "\"\(n)\" is not a valid operator name: 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter"
        case .unknownIncident(let id): return "no incident \(id)"
        case .wrongState(let id, let s, let wanted): return "incident \(id) is \(s.rawValue); it cannot be \(wanted)"
        case .noteTooLong(let n): return "the note is \(n) bytes; at most 4,000"
        case .invalidDisposition(let d): return "\"\(d.prefix(40))\" is not a disposition; one of: " + Disposition.allCases.map(\.rawValue).joined(separator: ", ")
        case .unknownStep(let id, let n): return "incident \(id) has no step \(n) in its site's action plan"
        }
    }

    /// Operator names: short, plain, unambiguous in logs and the audit log.
    public static func validName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), name.utf8.count <= 64 else { return false }
        return name.utf8.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }
}
