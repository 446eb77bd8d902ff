import Foundation
import PanicCore
import PanicSigning

/// The event log's sentences, one place for both engines (PostgreSQL's
/// stored functions take the texts they cannot compute from here).
enum ReceiverWording {
    static func alert(_ alert: Alert, receivedAt now: WallTime) -> String {
        let what = alert.kind == .restore ? "restore of \(alert.restores?.rawValue ?? "?")" : alert.kind.rawValue
        let latency = Double((now - alert.occurredAt).value) / 1e6
        let line = String(format: "#%lld %@%@ input=%@ zone=%@ occurred=%@ latency=%.1fms%@", alert.sequence, what, alert.test ? " (TEST)" : "",
                          alert.input ?? "-", alert.zone.map(String.init) ?? "-", alert.occurredAt.rfc3339, latency, alert.detail.map { " (\($0))" } ?? "")
        // The gateway's disk did not take it: the alarm is real, its copy there is not safe.
        return alert.durable == false ? line + " [sent from the gateway's memory: its disk is full or failing]" : line
    }

    static func reuse(_ alert: Alert, earlier: String) -> String {
        "sequence \(alert.sequence) arrived again with a new id \(alert.id) (earlier: \(earlier)); the gateway's outbox was lost or restored; stored as a new alert"
    }

    static func gap(from prev: Int64, to sequence: Int64) -> String {
        "sequence jumped from \(prev) to \(sequence): \(prev.saturatingAdd(1))...\(sequence.saturatingSubtract(1)) not (yet) received"
    }

    static func online(_ beat: Heartbeat) -> String {
        "first heartbeat (interval \(beat.intervalSeconds) s, last sequence \(beat.lastSequence))"
    }

    /// The event a gateway's restart notice becomes. Only the validated
    /// `previous_stop` and the time are taken from the wire.
    static func restarted(_ notice: Heartbeat.RestartNotice) -> String {
        notice.previousStop == Heartbeat.RestartNotice.unclean
            ? "restarted at \(notice.startedAt.rfc3339) after an unclean stop (a crash, its watchdog, kill -9 or a power cut)"
            : "restarted at \(notice.startedAt.rfc3339) after a clean stop (or its first start)"
    }

    static func silent(quietSeconds: Int64, interval: Int64, n: Int) -> String {
        "no heartbeat for \(quietSeconds) s (interval \(interval) s × \(n))"
    }

    static func announced(_ keyID: String, by announcer: String) -> String {
        "announced next signing key \(keyID) under key \(announcer); trusted while \(announcer) is configured"
    }
}

/// A public key as the registry takes it: range-checked where it is decoded.
struct RegistryKey {
    var keyID: String
    init(_ base64: String) throws(RegistryError) {
        guard let key = try? PublicKey(base64: base64) else {
            throw .invalid("\"\(String(base64.prefix(60)).escapingControlCharacters)\" is not the base64 of a 32-byte Ed25519 public key, as `panic-gateway keygen` prints it")
        }
        keyID = key.keyID
    }
}

extension RegistryChange {
    /// The gateway the change is about.
    public var gatewayID: String {
        switch self {
        case .add(let id, _, _), .addKey(let id, _), .removeKey(let id, _), .setEnabled(let id, _), .remove(let id): return id
        }
    }

    /// One line for the event log.
    var summary: String {
        switch self {
        case .add(_, let site, let keys): return "registered at site \"\(site)\" with \(keys.count) key(s)"
        case .addKey(_, let k): return "key \((try? RegistryKey(k))?.keyID ?? "?") added"
        case .removeKey(_, let keyID): return "key \(keyID) removed"
        case .setEnabled(_, let on): return on ? "enabled" : "disabled: its requests are refused"
        case .remove: return "removed from the registry (its stored alerts stay)"
        }
    }
}
