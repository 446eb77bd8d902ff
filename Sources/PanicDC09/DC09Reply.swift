import PanicCore

/// What a receiver answered to one frame, as real receivers send it.
public enum DC09Reply: Sendable, Equatable {
    /// `ACK` (or `*ACK`): the receiver has the message with this sequence number.
    case ack(sequence: Int, account: String?, encrypted: Bool)
    /// `NAK`: refused. With `receiverTime`, the timestamp was outside the
    /// receiver's window and this is its clock; a bare `"NAK"` (no framing,
    /// pysiaalarm's answer to an unknown account) has none.
    case nak(receiverTime: WallTime?, bare: Bool)
    /// `DUH`: understood but not processable (an unknown event code, say).
    case duh(sequence: Int?)
    /// A bare `"ACK"`: no sequence, so it cannot be matched to a frame.
    case bareAck

    /// Parses one reply. `key` decrypts `*ACK`/`*NAK`; plaintext NAK and DUH
    /// are accepted from an encrypted account (receivers send them so).
    public static func parse(_ received: [UInt8], key: [UInt8]?) throws(DC09ReplyError) -> DC09Reply {
        if received.count > DC09.maximumReplyBytes { throw .codec(.oversized(bytes: received.count)) }
        let trimmed = received.drop { [0x0A, 0x0D, 0x20, 0x00].contains($0) }.reversed().drop { [0x0A, 0x0D, 0x20, 0x00].contains($0) }.reversed()
        let text = String(decoding: trimmed, as: UTF8.self)
        switch text {
        case "\"NAK\"": return .nak(receiverTime: nil, bare: true)
        case "\"DUH\"": return .duh(sequence: nil)
        case "\"ACK\"": return .bareAck
        default: break
        }
        let frame: DC09Frame
        do {
            frame = try DC09Frame.decode(received, key: key)
        } catch {
            throw .codec(error)
        }
        switch frame.id {
        case "ACK": return .ack(sequence: frame.sequence, account: frame.account, encrypted: frame.encrypted)
        case "NAK": return .nak(receiverTime: frame.timestamp, bare: false)
        case "DUH": return .duh(sequence: frame.sequence)
        default: throw .unexpected(id: frame.id)
        }
    }

    /// Where a reply to a frame ends in a byte stream: at the CR of a
    /// framed reply, or at a bare `"ACK"`/`"NAK"`/`"DUH"` (which has no CR).
    public enum Scan: Equatable, Sendable {
        /// The first `count` bytes are one reply.
        case complete(count: Int)
        case needMore
        /// Over `DC09.maximumReplyBytes` with no end in sight.
        case oversized
    }

    /// Finds the end of the first reply in `buffer`.
    public static func scan(_ buffer: [UInt8]) -> Scan {
        if let cr = buffer.firstIndex(of: 0x0D) {
            return cr + 1 > DC09.maximumReplyBytes ? .oversized : .complete(count: cr + 1)
        }
        var s = 0
        while s < buffer.count, [0x0A, 0x20, 0x00].contains(buffer[s]) { s += 1 }
        let rest = buffer[s...]
        for bare in ["\"NAK\"", "\"ACK\"", "\"DUH\""] where rest.starts(with: bare.utf8) {
            return .complete(count: s + 5)
        }
        return buffer.count > DC09.maximumReplyBytes ? .oversized : .needMore
    }
}

/// Why a reply could not be used.
public enum DC09ReplyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not a well-formed frame: garbage, bad CRC or length, undecryptable, oversized.
    case codec(DC09CodecError)
    /// A well-formed frame that is no reply (`SIA-DCS` echoed back, say).
    case unexpected(id: String)
    /// A plaintext `ACK` to an encrypted frame: anyone could have sent it.
    case plaintextAcknowledgement
    /// A bare `"ACK"`: no sequence number, so it acknowledges no frame in particular.
    case bareAcknowledgement

    public var description: String {
        switch self {
        case .codec(let e): e.description
        case .unexpected(let id): "DC-09 reply: \"\(id)\" is not a reply (ACK, NAK or DUH expected)"
        case .plaintextAcknowledgement: "DC-09 reply: plaintext ACK to an encrypted frame; not trusted (the receiver should answer *ACK)"
        case .bareAcknowledgement: "DC-09 reply: bare \"ACK\" without sequence number; cannot tell which frame it acknowledges"
        }
    }
}
