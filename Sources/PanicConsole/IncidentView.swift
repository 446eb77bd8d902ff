import Foundation
import PanicConfig
import PanicReceiverKit

/// An incident as the browser gets it (JSON in the event stream and the
/// API): the stored incident plus its configured location, times both as
/// RFC 3339 text and as Unix milliseconds for the page's clock.
public struct IncidentView: Codable, Sendable, Equatable {
    public var id: Int64
    public var change: Int64
    public var kind: String
    public var priority: Int
    public var state: String
    public var site: String
    public var gatewayID: String
    public var input: String?
    public var zone: Int?
    public var area: Int?
    public var location: String?
    public var test: Bool
    public var clockSynchronized: Bool
    public var presses: Int
    public var occurredAt: String
    public var occurredMs: Int64
    public var receivedAt: String
    public var receivedMs: Int64
    public var restoredAt: String?
    public var acknowledgedBy: String?
    public var acknowledgedAt: String?
    public var resolvedBy: String?
    public var resolvedAt: String?
    public var disposition: String?
    public var note: String?
    public var detail: String
    public var escalatedAt: String?
    /// The site's action plan, each step with who ticked it and when.
    public var plan: [PlanStep]

    public struct PlanStep: Codable, Sendable, Equatable {
        public var text: String
        public var doneBy: String?
        public var doneAt: String?
    }

    public init(_ i: Incident, console: ReceiverConfig.Console) {
        id = i.id; change = i.change; kind = i.kind.rawValue; priority = i.priority; state = i.state.rawValue
        site = i.site; gatewayID = i.gatewayID; input = i.input; zone = i.zone; area = i.area
        location = console.location(gateway: i.gatewayID, input: i.input)
        test = i.test; clockSynchronized = i.clockSynchronized; presses = i.presses
        occurredAt = i.occurredAt.rfc3339; occurredMs = i.occurredAt.nanosecondsSinceEpoch / 1_000_000
        receivedAt = i.receivedAt.rfc3339; receivedMs = i.receivedAt.nanosecondsSinceEpoch / 1_000_000
        restoredAt = i.restoredAt?.rfc3339; acknowledgedBy = i.acknowledgedBy; acknowledgedAt = i.acknowledgedAt?.rfc3339
        resolvedBy = i.resolvedBy; resolvedAt = i.resolvedAt?.rfc3339; disposition = i.disposition?.rawValue; note = i.note; detail = i.detail
        escalatedAt = i.escalatedAt?.rfc3339
        let done = Dictionary(i.steps.map { ($0.step, $0) }, uniquingKeysWith: { a, _ in a })
        plan = console.actionPlan(site: i.site).enumerated().map { n, text in
            PlanStep(text: text, doneBy: done[n]?.doneBy, doneAt: done[n]?.doneAt.rfc3339)
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// One line of JSON (no newline inside, as an event-stream `data:` needs).
    public var json: String { (try? String(decoding: Self.encoder.encode(self), as: UTF8.self)) ?? "{}" }
}
