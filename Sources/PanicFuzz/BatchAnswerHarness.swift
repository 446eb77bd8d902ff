import PanicCore

/// The receiver's answer to a batch, as the gateway reads it: arbitrary
/// bytes parsed against a few lists of ids. Whatever it accepts is one
/// entry per id, each with an HTTP status, every 2xx naming its alert.
enum BatchAnswerHarness {
    static let idLists: [[String]] = [[], ["a"], ["a", "b", "c"], ["019a7b3c-1d2e-7f00-8a00-000000000001", "019a7b3c-1d2e-7f00-8a00-000000000002"]]

    static func run(_ data: [UInt8]) {
        for ids in idLists {
            guard let entries = BatchAnswer.parse(data, ids: ids) else { continue }
            precondition(entries.count == ids.count, "an answer accepted with \(entries.count) entries for \(ids.count) alerts")
            for (entry, id) in zip(entries, ids) {
                precondition((200...599).contains(entry.status), "status \(entry.status) accepted")
                precondition(entry.id == nil || entry.id == id, "an entry naming another alert accepted")
                precondition(!(200...299).contains(entry.status) || entry.id == id, "a 2xx that names no alert accepted")
            }
        }
    }
}
