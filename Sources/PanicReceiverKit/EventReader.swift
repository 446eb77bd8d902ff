import Foundation
import PanicCore

/// Reads the event log in order without losing an event. On PostgreSQL an
/// event's number is taken when its transaction starts writing and becomes
/// visible when it commits, so two replicas may commit numbers out of
/// order: a number skipped now may appear a moment later. The reader keeps
/// the numbers it saw skipped and asks for them again for `patience`
/// (numbers of rolled-back transactions never appear and are then forgotten).
public struct EventReader: Sendable {
    public private(set) var cursor: Int64
    private var missing: [Int64: ContinuousClock.Instant] = [:]
    public var patience: Duration = .seconds(10)
    /// At most this many skipped numbers are tracked (a huge jump is a sequence reset, not a race).
    static let maxTracked = 1_000

    public init(cursor: Int64) { self.cursor = cursor }

    /// The events after the cursor, page after page, and any skipped ones that appeared.
    public mutating func next(from store: any ReceiverStore, pageSize: Int = 500) async throws -> [LoggedEvent] {
        var out: [LoggedEvent] = []
        let now = ContinuousClock.now
        if !missing.isEmpty {
            let found = try await store.events(numbered: missing.keys.sorted())
            for e in found { missing[e.number] = nil }
            out += found
            missing = missing.filter { now - $0.value < patience }
        }
        while true {
            let page = try await store.events(after: cursor, limit: pageSize)
            for e in page {
                if e.number > cursor.saturatingAdd(1), e.number - cursor <= Int64(Self.maxTracked), missing.count < Self.maxTracked {
                    for n in (cursor + 1)..<e.number { missing[n] = now }
                }
                cursor = max(cursor, e.number)
            }
            out += page
            if page.count < pageSize { break }
        }
        return out
    }
}
