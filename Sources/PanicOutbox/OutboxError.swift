/// Why the outbox could not do what was asked, and what to do about it.
public struct OutboxError: Error, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var underlying: String

    public var description: String {
        "outbox \(path): \(operation) failed: \(underlying). Check that the state directory exists, is writable by the gateway's user, and that the disk is not full."
    }
}
