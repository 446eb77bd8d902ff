import PanicCore
@testable import PanicDC09
import Testing

@Suite("DC-09 replies")
struct ReplyTests {
    /// Replies recorded from pysiaalarm 3.2.2's `create_response`.
    enum Recorded {
        static let ack = "\n5BED0014\"ACK\"0042R0L0#1234[]\r"
        static let encryptedAck = "\n6C100053\"*ACK\"0001R0L0#AAA[FDCE434358276C8338D6F0A710B57485F8AE3C79D6A52D5DDA4FBE4977A62071\r"
        static let nakForTimestamp = "\n2E340025\"NAK\"0000R0L0A0[]_12:00:05,01-01-2025\r"
        static let nakForFormat = "\n2E4A0025\"NAK\"0000L0R0A0[]_12:00:05,01-01-2025\r"
        static let nakUnknownAccount = "\"NAK\""
        static let duh = "\n64CE0014\"DUH\"0005R0L0#1234[]\r"
        static let badCRCAnswer = "\n\r"
    }

    static func parse(_ s: String, key: [UInt8]? = nil) throws(DC09ReplyError) -> DC09Reply {
        try DC09Reply.parse(Array(s.utf8), key: key)
    }

    @Test("a plaintext ACK echoes sequence and account")
    func ack() throws {
        #expect(try Self.parse(Recorded.ack) == .ack(sequence: 42, account: "1234", encrypted: false))
    }

    @Test("pysiaalarm's encrypted *ACK (zero pad, no |) decrypts")
    func encryptedAckWithoutBar() throws {
        #expect(try Self.parse(Recorded.encryptedAck, key: notesKey) == .ack(sequence: 1, account: "AAA", encrypted: true))
        let frame = try DC09Frame.decode(Array(Recorded.encryptedAck.utf8), key: notesKey)
        #expect(frame.timestamp == notesTime + .seconds(5))
    }

    @Test("an encrypted *ACK with | after the pad decrypts too")
    func encryptedAckWithBar() throws {
        let wire = try DC09Frame(id: "ACK", encrypted: true, sequence: 9, receiver: "0", linePrefix: "0", account: "AAA", timestamp: notesTime).encode(key: notesKey)
        #expect(try DC09Reply.parse(wire, key: notesKey) == .ack(sequence: 9, account: "AAA", encrypted: true))
    }

    @Test("an encrypted reply needs the key, and the right one")
    func encryptedAckNeedsKey() {
        #expect(throws: DC09ReplyError.codec(.encryptedWithoutKey)) { try Self.parse(Recorded.encryptedAck) }
        #expect(throws: DC09ReplyError.self) { try Self.parse(Recorded.encryptedAck, key: Array("FFFFFFFFFFFFFFFF".utf8)) }
    }

    @Test("a NAK carries the receiver's time, in either header order", arguments: [Recorded.nakForTimestamp, Recorded.nakForFormat])
    func nakWithTime(wire: String) throws {
        #expect(try Self.parse(wire) == .nak(receiverTime: notesTime + .seconds(5), bare: false))
    }

    @Test("a bare \"NAK\" (unknown account) is a NAK without time")
    func bareNak() throws {
        #expect(try Self.parse(Recorded.nakUnknownAccount) == .nak(receiverTime: nil, bare: true))
        #expect(try Self.parse(Recorded.nakUnknownAccount, key: notesKey) == .nak(receiverTime: nil, bare: true))
    }

    @Test("DUH echoes the sequence; plaintext even for an encrypted account")
    func duh() throws {
        #expect(try Self.parse(Recorded.duh) == .duh(sequence: 5))
        #expect(try Self.parse(Recorded.duh, key: notesKey) == .duh(sequence: 5))
        #expect(try Self.parse("\"DUH\"") == .duh(sequence: nil))
    }

    @Test("a DUH that echoes the key in clear ([K…], pysiaalarm) still reads")
    func duhWithKeyEcho() throws {
        let wire = try DC09Frame.wrap(body: "\"DUH\"0005R0L0#AAA[][K0123456789ABCDEF]")
        #expect(try DC09Reply.parse(wire, key: notesKey) == .duh(sequence: 5))
    }

    @Test("a bare \"ACK\" is recognised but matches no frame")
    func bareAck() throws {
        #expect(try Self.parse("\"ACK\"") == .bareAck)
    }

    @Test("unusable replies are errors, never acknowledgements", arguments: [
        Recorded.badCRCAnswer, "", "garbage\r", "\n5BEE0014\"ACK\"0042R0L0#1234[]\r", "\n5BED0015\"ACK\"0042R0L0#1234[]\r",
        "\n633A003C\"SIA-DCS\"0001R0L0#1234[#1234|Nri1/PA501]_12:00:00,01-01-2025\r",
    ])
    func unusable(wire: String) {
        #expect(throws: DC09ReplyError.self) { try Self.parse(wire) }
    }

    @Test("replies over 1 KiB are refused")
    func oversized() {
        #expect(throws: DC09ReplyError.codec(.oversized(bytes: 2000))) { try DC09Reply.parse([UInt8](repeating: 0x30, count: 2000), key: nil) }
    }

    @Test("the end of a reply in a stream: CR, or a bare quoted word")
    func scanning() {
        #expect(DC09Reply.scan(Array(Recorded.ack.utf8)) == .complete(count: Recorded.ack.utf8.count))
        #expect(DC09Reply.scan(Array((Recorded.ack + "\n12").utf8)) == .complete(count: Recorded.ack.utf8.count))
        #expect(DC09Reply.scan(Array(Recorded.ack.dropLast().utf8)) == .needMore)
        #expect(DC09Reply.scan(Array("\"NAK\"".utf8)) == .complete(count: 5))
        #expect(DC09Reply.scan(Array("\"NA".utf8)) == .needMore)
        #expect(DC09Reply.scan(Array("\n".utf8)) == .needMore)
        #expect(DC09Reply.scan([UInt8](repeating: 0x41, count: 1025)) == .oversized)
    }

    @Test("judging a reply against the frame sent: sequence, account, encryption")
    func judging() throws {
        func verdict(_ wire: String, number: Int, key: [UInt8]? = nil) -> String {
            switch DC09Channel.judge(Array(wire.utf8), number: number, account: key == nil ? "1234" : "AAA", key: key) {
            case .accept(let r): "accept \(r)"
            case .ignore: "ignore"
            case .reject: "reject"
            }
        }
        #expect(verdict(Recorded.ack, number: 42) == "accept ack(sequence: 42, account: Optional(\"1234\"), encrypted: false)")
        #expect(verdict(Recorded.ack, number: 41) == "ignore")
        #expect(verdict(Recorded.duh, number: 4) == "ignore")
        #expect(verdict(Recorded.encryptedAck, number: 1, key: notesKey).hasPrefix("accept"))
        // A plaintext ACK to an encrypted frame is not trusted.
        let plainAck = text(try DC09Frame(id: "ACK", sequence: 1, receiver: "0", linePrefix: "0", account: "AAA").encode())
        #expect(verdict(plainAck, number: 1, key: notesKey) == "reject")
        #expect(verdict("\"ACK\"", number: 1) == "reject")
        #expect(verdict("xyz\r", number: 1) == "reject")
        #expect(verdict(Recorded.nakForTimestamp, number: 17).hasPrefix("accept nak"))
        let otherAccount = text(try DC09Frame(id: "ACK", sequence: 42, receiver: "0", linePrefix: "0", account: "9999").encode())
        #expect(verdict(otherAccount, number: 42) == "ignore")
    }
}
