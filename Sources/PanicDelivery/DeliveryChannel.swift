import PanicCore
import PanicOutbox

/// One kind of destination (signed HTTPS, SIA DC-09, …): performs a single
/// attempt and classifies its result. Everything else — the queue, waits,
/// back-off, failover, trouble, status — is the `DeliveryService`'s, so a
/// new kind of destination is one `deliver` function (and, if it has them,
/// its heartbeat, supervision, probe and notice messages).
public protocol DeliveryChannel: Sendable {
    /// The outbox destination this channel delivers.
    var destination: String { get }
    /// `https`, `dc09`, …: for status and metrics.
    var kind: String { get }
    /// Where it delivers, for status and logs (a URL, `host:port`).
    var target: String { get }
    var policy: DeliveryPolicy { get }
    /// The last protocol sequence number used, where the protocol has one.
    var lastFrameNumber: Int? { get }

    /// Before the first attempt of a run (sockets, threads).
    func open() async
    /// After the last attempt of a run.
    func close() async
    /// Interrupts an attempt in flight: the service is shutting down.
    func interrupt()

    /// One attempt to deliver `alert` over `path`, with times sent corrected by `clockOffset`.
    func deliver(_ alert: PendingAlert, on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult
    /// Most alerts one attempt may carry: 1 (the default) delivers one at a
    /// time; more lets a backlog drain in batches (`deliver(batch:)`).
    var batchLimit: Int { get }
    /// One attempt to deliver `batch` (at most `batchLimit` alerts, in
    /// delivery order, all of one priority) in one exchange.
    func deliver(batch: [PendingAlert], on path: DeliveryPath, clockOffset: Nanoseconds) async -> BatchAttemptResult
    /// A heartbeat (when `policy.heartbeatInterval` is set).
    func heartbeat(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult
    /// A supervision message (when `policy.supervisionInterval` is set).
    func supervise(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult
    /// While on the backup: a message to the primary to see whether it answers.
    func probe(clockOffset: Nanoseconds) async -> AttemptResult
    /// The primary's failure (over the backup) or its return (over the primary).
    func sendNotice(_ notice: PathNotice, clockOffset: Nanoseconds) async -> AttemptResult
    /// `alert` was delivered and marked so (the channel's own bookkeeping).
    func delivered(_ alert: PendingAlert, on path: DeliveryPath, at: WallTime)
    /// The words for a trouble of this destination, for logs and trouble alerts.
    func describe(_ trouble: DestinationTrouble) -> String
}

extension DeliveryChannel {
    public var lastFrameNumber: Int? { nil }
    public func open() async {}
    public func close() async {}
    public func interrupt() {}
    public var batchLimit: Int { 1 }
    public func deliver(batch: [PendingAlert], on path: DeliveryPath, clockOffset: Nanoseconds) async -> BatchAttemptResult { .unsupported }
    public func heartbeat(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult { .refused("\(kind) has no heartbeat") }
    public func supervise(on path: DeliveryPath, clockOffset: Nanoseconds) async -> AttemptResult { .refused("\(kind) has no supervision") }
    public func probe(clockOffset: Nanoseconds) async -> AttemptResult { .failed("\(kind) has no backup", cause: "unreachable") }
    public func sendNotice(_ notice: PathNotice, clockOffset: Nanoseconds) async -> AttemptResult { .refused("\(kind) sends no notices") }
    public func delivered(_ alert: PendingAlert, on path: DeliveryPath, at: WallTime) {}
    public func describe(_ trouble: DestinationTrouble) -> String {
        switch trouble {
        case .refusing(let reason): "receiver refused an alert: \(reason)"
        case .primaryUnreachable: "primary receiver \(target) unreachable"
        }
    }
}
