import PanicCore

/// What the operator console keeps: operators and their sessions, the
/// incidents the alerts and supervision open, and the append-only audit
/// log. Incidents are opened inside the transaction that stores the alert
/// (or marks the gateway silent), so an alarm stored is an alarm queued.
public protocol ConsoleStore: Sendable {
    /// Bumped after every commit that may have changed an incident.
    var incidentChanges: ChangeSignal { get }

    func addOperator(name: String, role: OperatorRole, passwordHash: String, at now: WallTime) async throws
    /// Also ends the operator's sessions.
    func setPassword(name: String, passwordHash: String, at now: WallTime) async throws
    /// Disabling also ends the operator's sessions.
    func setOperatorEnabled(name: String, _ enabled: Bool, at now: WallTime) async throws
    func operators() async throws -> [OperatorAccount]
    func credentials(of name: String) async throws -> OperatorCredentials?

    func createSession(tokenHash: String, operatorName: String, csrfToken: String, expiresAt: WallTime, at now: WallTime) async throws
    /// The session, unless it expired or its operator is disabled.
    func session(tokenHash: String, now: WallTime) async throws -> ConsoleSession?
    func endSession(tokenHash: String) async throws

    /// Open incidents (new or acknowledged), most urgent first, then oldest.
    func openIncidents() async throws -> [Incident]
    /// Incidents changed after `change`, in the order of their changes.
    func incidents(changedAfter change: Int64, limit: Int) async throws -> [Incident]
    func incident(_ id: Int64) async throws -> Incident?
    /// Incidents of a site or gateway (or all), newest first.
    func history(site: String?, gatewayID: String?, limit: Int) async throws -> [Incident]
    func lastIncidentChange() async throws -> Int64

    /// new → acknowledged; audited. Throws `ConsoleError.wrongState` otherwise.
    func acknowledge(_ id: Int64, by operatorName: String, at now: WallTime) async throws -> Incident
    /// new or acknowledged → resolved; audited.
    func resolve(_ id: Int64, by operatorName: String, disposition: Disposition, note: String, at now: WallTime) async throws -> Incident

    /// Ticks off step `step` (its text as the plan says it now) of an open
    /// incident; audited. Ticking a step twice keeps the first.
    func completeStep(_ id: Int64, step: Int, text: String, by operatorName: String, at now: WallTime) async throws -> Incident

    /// The open alarms of a gateway's inputs (for its lamps) and the highest
    /// sequence stored from it.
    func acknowledgements(gatewayID: String) async throws -> AcknowledgementAnswer

    // MARK: Escalation

    /// Marks every open, unacknowledged incident of priority `maximumPriority`
    /// or more urgent, received at or before `cutoff` and not escalated yet,
    /// as escalated, and queues one delivery per webhook with the body
    /// `body` makes — in one transaction, audited as the receiver's.
    func escalate(receivedBefore cutoff: WallTime, maximumPriority: Int, webhooks: [String], at now: WallTime,
                  body: @Sendable (Incident) -> [UInt8]) async throws -> [Incident]
    /// Undelivered escalations due at `now`, oldest first.
    func dueEscalations(at now: WallTime, limit: Int) async throws -> [EscalationDelivery]
    func escalationDelivered(_ id: Int64, at now: WallTime) async throws
    func escalationFailed(_ id: Int64, error: String, retryAt: WallTime) async throws
    /// Moves these escalations' next attempt to `until` (behind one that failed).
    func postponeEscalations(_ ids: [Int64], until: WallTime) async throws
    /// Escalations not delivered yet (for status and tests).
    func undeliveredEscalations() async throws -> Int

    func appendAudit(operatorName: String, incidentID: Int64?, action: String, detail: String, at now: WallTime) async throws
    /// Audit entries, oldest first (of one incident, or all).
    func audit(incidentID: Int64?, limit: Int) async throws -> [AuditEntry]
}
