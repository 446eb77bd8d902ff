import PanicCore
import PanicDelivery

/// A frame the receiver acknowledged, for observers (tests, tools, the CLI).
public struct DC09Acknowledgement: Sendable, Equatable {
    public enum What: Sendable, Equatable {
        /// An outbox alert, by its outbox sequence number.
        case alert(sequence: Int64, id: String)
        /// A supervision message (`NULL` or periodic test), or a probe of the primary.
        case supervision
        /// The destination's own communications trouble (YS) or restore (YK) event.
        case communicationsTrouble(restored: Bool)
    }

    public var what: What
    /// The DC-09 sequence number the frame carried.
    public var number: Int
    public var receiver: DeliveryPath
    public var at: WallTime
}

/// The DC-09 destination cannot be set up as configured.
public struct DC09SetupError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
