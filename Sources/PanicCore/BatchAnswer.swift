import Foundation

/// The receiver's answer to a batch of alerts (`POST /v1/alerts/batch`):
/// `{"results": [{"id", "status", "error"?, "warning"?}, ...]}`, one entry
/// per alert sent, in the order sent.
///
/// It comes from the network: `parse` takes it only when it is exactly one
/// entry per alert, each naming the alert it answers (a 2xx must), with a
/// status an HTTP status can be; anything else is no answer at all, and the
/// batch counts as failed — never as delivered on a guess.
public enum BatchAnswer {
    /// One alert's answer.
    public struct Entry: Sendable, Equatable, Decodable {
        /// The alert's id, as the receiver names it.
        public var id: String?
        /// The status the alert would have had alone (201 new, 200 duplicate, 4xx refused, …).
        public var status: Int
        /// Why it was refused, when it was.
        public var error: String?
    }

    private struct Body: Decodable {
        var results: [Entry]
    }

    /// The entries of `bytes` answering the alerts `ids`, in order, or nil
    /// when `bytes` is not such an answer.
    public static func parse(_ bytes: [UInt8], ids: [String]) -> [Entry]? {
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(bytes)), body.results.count == ids.count else { return nil }
        for (entry, id) in zip(body.results, ids) {
            guard (200...599).contains(entry.status) else { return nil }
            if let named = entry.id, named != id { return nil }
            if (200...299).contains(entry.status), entry.id == nil { return nil }
        }
        return body.results
    }
}
