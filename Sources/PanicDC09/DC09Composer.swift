import PanicConfig
import PanicCore

/// Builds the frames one destination sends, from its configuration: message
/// id, `R`, `L` and account, the event data in its format, the time of
/// occurrence in `[H…]`, and encryption whenever a key is configured (there
/// is no way to build a plaintext frame for an account with a key).
public struct DC09Composer: Sendable {
    public let config: DC09Config

    public init(config: DC09Config) {
        self.config = config
    }

    /// Every frame of this destination is encrypted.
    public var encrypted: Bool { config.key != nil }

    /// An event frame, stamped `sentAt` (the receiver's clock as best known),
    /// with `occurredAt` in `[H…]`.
    public func eventFrame(_ event: DC09Event, sequence: Int, sentAt: WallTime, occurredAt: WallTime?) throws(DC09EventError) -> DC09Frame {
        eventFrame(data: try event.data(format: config.format, account: config.account), sequence: sequence, sentAt: sentAt, occurredAt: occurredAt)
    }

    /// An event frame around data already rendered by `DC09Event.data`.
    public func eventFrame(data: String, sequence: Int, sentAt: WallTime, occurredAt: WallTime?) -> DC09Frame {
        DC09Frame(
            id: DC09Event.messageID(config.format), encrypted: encrypted, sequence: sequence,
            receiver: config.receiverNumber, linePrefix: config.linePrefix, account: config.account, data: data,
            extendedData: occurredAt.map { ["H" + DC09Timestamp.format($0)] } ?? [], timestamp: sentAt)
    }

    /// The supervision frame: `NULL`, or a periodic test event when so configured.
    public func supervisionFrame(sequence: Int, sentAt: WallTime) -> DC09Frame {
        switch config.supervision {
        case .null:
            return nullFrame(sequence: sequence, sentAt: sentAt)
        case .periodicTest:
            // Area 0, zone 0 fit both formats.
            return (try? eventFrame(.periodicTest(), sequence: sequence, sentAt: sentAt, occurredAt: nil))
                ?? nullFrame(sequence: sequence, sentAt: sentAt)
        }
    }

    /// A `NULL` link test.
    public func nullFrame(sequence: Int, sentAt: WallTime) -> DC09Frame {
        DC09Frame(
            id: "NULL", encrypted: encrypted, sequence: sequence, receiver: config.receiverNumber,
            linePrefix: config.linePrefix, account: config.account, data: "", timestamp: sentAt)
    }

    /// The frame's bytes, encrypted with the configured key when there is one.
    public func encode(_ frame: DC09Frame, pad: String? = nil) throws(DC09CodecError) -> [UInt8] {
        var f = frame
        f.encrypted = encrypted
        return try f.encode(key: config.key, pad: pad)
    }
}
