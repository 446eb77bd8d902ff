import Dispatch
import HummingbirdBcrypt
import PanicCore

/// bcrypt, off the cooperative threads: one hash at a time on a queue of its
/// own, and at most `maximumWaiting` logins waiting for it — a flood of login
/// attempts costs one core and is refused beyond that, never the intake.
public final class PasswordHasher: Sendable {
    public let cost: UInt8
    public let maximumWaiting: Int
    private let queue = DispatchQueue(label: "panic-console.bcrypt")
    private let waiting = Locked(0)
    /// A hash to verify against when the name is unknown, so a wrong name
    /// takes as long as a wrong password.
    private let decoy: String

    public init(cost: Int, maximumWaiting: Int = 8) {
        self.cost = UInt8(clamping: min(max(cost, 4), 31))
        self.maximumWaiting = maximumWaiting
        decoy = Bcrypt.hash("decoy password, never an operator's", cost: self.cost)
    }

    /// The hash of a new password (for `operators add` and `passwd`).
    public func hash(_ password: String) -> String { Bcrypt.hash(password, cost: cost) }

    /// Whether `password` matches `hash` (the decoy when nil); nil when too
    /// many logins are waiting already (answer 503, try again).
    public func verify(_ password: String, hash: String?) async -> Bool? {
        let admitted = waiting.mutate { n -> Bool in
            guard n < maximumWaiting else { return false }
            n += 1
            return true
        }
        guard admitted else { return nil }
        defer { waiting.mutate { $0 -= 1 } }
        let decoy = self.decoy
        return await withCheckedContinuation { c in
            queue.async {
                let ok = Bcrypt.verify(password, hash: hash ?? decoy)
                c.resume(returning: hash != nil && ok)
            }
        }
    }
}
