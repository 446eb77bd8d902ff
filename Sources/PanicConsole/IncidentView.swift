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

    /// What `JSONEncoder` with snake-case keys and sorted keys would write
    /// (a test holds the two equal), written by hand: a page of a thousand
    /// open alarms is a thousand of these, and the encoder's key conversion
    /// was most of the receiver's answer.
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// One line of JSON (no newline inside, as an event-stream `data:` needs).
    public var json: String {
        var w = JSONObjectWriter()
        w.string("acknowledged_at", acknowledgedAt); w.string("acknowledged_by", acknowledgedBy)
        w.int("area", area.map(Int64.init)); w.int("change", change); w.bool("clock_synchronized", clockSynchronized)
        w.string("detail", detail); w.string("disposition", disposition); w.string("escalated_at", escalatedAt)
        w.string("gateway_id", gatewayID); w.int("id", id); w.string("input", input); w.string("kind", kind)
        w.string("location", location); w.string("note", note); w.string("occurred_at", occurredAt); w.int("occurred_ms", occurredMs)
        w.raw("plan", "[" + plan.map { step in
            var p = JSONObjectWriter()
            p.string("done_at", step.doneAt); p.string("done_by", step.doneBy); p.string("text", step.text)
            return p.finish()
        }.joined(separator: ",") + "]")
        w.int("presses", Int64(presses)); w.int("priority", Int64(priority)); w.string("received_at", receivedAt); w.int("received_ms", receivedMs)
        w.string("resolved_at", resolvedAt); w.string("resolved_by", resolvedBy); w.string("restored_at", restoredAt)
        w.string("site", site); w.string("state", state); w.bool("test", test); w.int("zone", zone.map(Int64.init))
        return w.finish()
    }
}

/// A JSON object written member by member, in the order given (sorted by
/// the caller); absent optionals are left out, as `JSONEncoder` does.
struct JSONObjectWriter {
    private var out = "{"
    private var first = true

    private mutating func key(_ k: String) {
        if !first { out += "," }
        first = false
        out += "\""
        out += k
        out += "\":"
    }

    mutating func string(_ k: String, _ v: String?) {
        guard let v else { return }
        key(k)
        Self.quote(v, into: &out)
    }

    mutating func int(_ k: String, _ v: Int64?) {
        guard let v else { return }
        key(k)
        out += String(v)
    }

    mutating func bool(_ k: String, _ v: Bool) {
        key(k)
        out += v ? "true" : "false"
    }

    mutating func raw(_ k: String, _ json: String) {
        key(k)
        out += json
    }

    mutating func finish() -> String { out + "}" }

    /// A JSON string: quotes, backslashes and control characters escaped;
    /// '/' too, as `JSONEncoder` does, and '<' (as \u003c), so that the
    /// JSON can sit in an HTML script block as it is.
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        var plain = true
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x2F || b == 0x3C { plain = false; break }
        if plain {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "/": out += "\\/"
                // Never a '<' in the page's data block: no text from a gateway can end it.
                case "<": out += "\\u003c"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
        }
        out += "\""
    }
}
