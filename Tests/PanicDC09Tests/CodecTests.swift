import PanicCore
@testable import PanicDC09
import Testing

/// 12:00:00 on 2025-01-01 UTC, the stamp of the frames in the shared notes.
let notesTime = WallTime(secondsSinceEpoch: 1_735_732_800)
let notesKey = Array("0123456789ABCDEF".utf8)

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("CRC-16/ARC")
struct CRCTests {
    @Test("the check value: \"123456789\" gives 0xBB3D")
    func checkValue() {
        #expect(CRC16ARC.checksum(Array("123456789".utf8)) == 0xBB3D)
        #expect(CRC16ARC.hex(Array("123456789".utf8)) == "BB3D")
    }

    @Test("nothing gives 0, and the hex form is always four upper-case digits")
    func emptyAndPadding() {
        #expect(CRC16ARC.checksum([UInt8]()) == 0)
        #expect(CRC16ARC.hex([UInt8]()) == "0000")
    }
}

@Suite("DC-09 timestamps")
struct TimestampTests {
    @Test("formats as HH:MM:SS,MM-DD-YYYY in UTC and reads back", arguments: [
        (Int64(1_735_732_800), "12:00:00,01-01-2025"),
        (Int64(1_796_000_000), "00:53:20,11-30-2026"),
        (Int64(951_782_400), "00:00:00,02-29-2000"),
        (Int64(0), "00:00:00,01-01-1970"),
    ])
    func roundTrip(seconds: Int64, expected: String) {
        #expect(DC09Timestamp.format(WallTime(secondsSinceEpoch: seconds)) == expected)
        #expect(DC09Timestamp.parse(expected) == WallTime(secondsSinceEpoch: seconds))
    }

    @Test("a leap day is a day: 29 February 2024 reads")
    func leapDay() {
        #expect(DC09Timestamp.parse("12:00:00,02-29-2024") != nil)
    }

    @Test("a fraction of a second is dropped, not rounded")
    func fractionDropped() {
        #expect(DC09Timestamp.format(notesTime + .milliseconds(999)) == "12:00:00,01-01-2025")
    }

    @Test("anything but the exact form is refused", arguments: ["12:00:00,1-01-2025", "12:00:00 01-01-2025", "25:00:00,01-01-2025", "12:00:00,13-01-2025", "", "12:00:00,01-01-2025Z",
                                                        "12:00:00,02-31-2025", "12:00:00,02-29-2025", "12:00:00,04-31-2025", "12:00:00,00-10-2025"])
    func refused(text: String) {
        #expect(DC09Timestamp.parse(text) == nil)
    }
}

@Suite("DC-09 frames")
struct FrameTests {
    /// The plaintext frames pysiaalarm accepted (alarm-protocols.md).
    static let plaintext: [(DC09Frame, String)] = [
        (DC09Frame(id: "SIA-DCS", sequence: 1, receiver: "0", linePrefix: "0", account: "1234", data: "#1234|Nri1/PA501", timestamp: notesTime),
         "\n633A003C\"SIA-DCS\"0001R0L0#1234[#1234|Nri1/PA501]_12:00:00,01-01-2025\r"),
        (DC09Frame(id: "ADM-CID", sequence: 2, receiver: "0", linePrefix: "0", account: "1234", data: "#1234|1120 01 501", timestamp: notesTime),
         "\n7AF4003D\"ADM-CID\"0002R0L0#1234[#1234|1120 01 501]_12:00:00,01-01-2025\r"),
        (DC09Frame(id: "NULL", sequence: 3, receiver: "0", linePrefix: "0", account: "1234", data: "", timestamp: notesTime),
         "\n844C0029\"NULL\"0003R0L0#1234[]_12:00:00,01-01-2025\r"),
    ]

    @Test("the plaintext frames of the notes are built byte for byte", arguments: 0..<3)
    func buildsPlaintext(index: Int) throws {
        let (frame, expected) = Self.plaintext[index]
        #expect(text(try frame.encode()) == expected)
    }

    @Test("the plaintext frames of the notes read back into their fields", arguments: 0..<3)
    func readsPlaintext(index: Int) throws {
        let (frame, wire) = Self.plaintext[index]
        let read = try DC09Frame.decode(Array(wire.utf8))
        #expect(read == frame)
        #expect(read.timestamp == notesTime)
    }

    static let encryptedWire = "\n6E370077\"*SIA-DCS\"0001R0L0#AAA[5933889F373187E80AAD848AB742C09D17F7E9DD2E1AD8C98BE46C35461D4F9F360591FA9A7355CA0C6F73BB5488C33B\r"

    @Test("the encrypted frame of the notes is built byte for byte with its pad")
    func buildsEncrypted() throws {
        let frame = DC09Frame(id: "SIA-DCS", encrypted: true, sequence: 1, receiver: "0", linePrefix: "0", account: "AAA", data: "#AAA|Nri1/PA501", timestamp: notesTime)
        #expect(text(try frame.encode(key: notesKey, pad: "XXXXXXXXXXX")) == Self.encryptedWire)
    }

    @Test("the encrypted frame of the notes decrypts into its fields")
    func readsEncrypted() throws {
        let read = try DC09Frame.decode(Array(Self.encryptedWire.utf8), key: notesKey)
        #expect(read.encrypted)
        #expect(read.id == "SIA-DCS")
        #expect(read.account == "AAA")
        #expect(read.data == "#AAA|Nri1/PA501")
        #expect(read.timestamp == notesTime)
    }

    @Test("a random pad fills the last block with A-Z a-z 0-9 and decrypts to the same content", arguments: 0..<40)
    func randomPad(extra: Int) throws {
        let data = "#1234|Nri1/PA" + String(repeating: "5", count: extra + 1)
        let frame = DC09Frame(id: "SIA-DCS", encrypted: true, sequence: 7, receiver: "0", linePrefix: "0", account: "1234", data: data, extendedData: ["H11:00:00,01-01-2025"], timestamp: notesTime)
        let wire = try frame.encode(key: notesKey)
        let hex = text(wire).split(separator: "[")[1].dropLast()
        #expect(hex.count % 32 == 0)
        let plain = try DC09Cipher(key: notesKey).decrypt(hex: hex)
        let pad = plain.prefix { $0 != "|" }
        #expect(pad.count >= 1 && pad.count <= 16)
        #expect(pad.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(try DC09Frame.decode(wire, key: notesKey) == frame)
    }

    @Test("a pad is 16 characters when the content already fills whole blocks")
    func fullBlockPad() {
        #expect(DC09Cipher.padLength(contentBytes: 15) == 16)
        #expect(DC09Cipher.padLength(contentBytes: 36) == 11)
        #expect(DC09Cipher.padLength(contentBytes: 16) == 15)
    }

    @Test("an injected pad of the wrong length or alphabet is refused", arguments: ["XXXX", "XXXXXXXXXX|", "XXXXXXXXXX-"])
    func wrongPad(pad: String) {
        let frame = DC09Frame(id: "SIA-DCS", encrypted: true, sequence: 1, receiver: "0", linePrefix: "0", account: "AAA", data: "#AAA|Nri1/PA501", timestamp: notesTime)
        #expect(throws: DC09CodecError.invalidPad(pad: pad, requiredLength: 11)) { try frame.encode(key: notesKey, pad: pad) }
    }

    @Test("an encrypted frame cannot be built without a key: never plaintext instead")
    func encryptedNeedsKey() {
        let frame = DC09Frame(id: "SIA-DCS", encrypted: true, sequence: 1, account: "AAA", data: "#AAA|Nri1/PA501", timestamp: notesTime)
        #expect(throws: DC09CodecError.encryptedWithoutKey) { try frame.encode() }
    }

    @Test("AES-192 and AES-256 keys work; other lengths are refused")
    func keyLengths() throws {
        for n in [24, 32] {
            let key = [UInt8](repeating: 0x41, count: n)
            let frame = DC09Frame(id: "NULL", encrypted: true, sequence: 1, account: "AAA", timestamp: notesTime)
            #expect(try DC09Frame.decode(try frame.encode(key: key), key: key) == frame)
        }
        #expect(throws: DC09CodecError.invalidKeyLength(20)) { try DC09Cipher(key: [UInt8](repeating: 1, count: 20)) }
    }

    @Test("fields that do not fit are refused with what is allowed", arguments: [
        (DC09Frame(id: "SIA-DCS", sequence: 10_000, account: "1234"), "sequence"),
        (DC09Frame(id: "SIA-DCS", sequence: 1, account: "12"), "#"),
        (DC09Frame(id: "SIA-DCS", sequence: 1, account: "12G4"), "#"),
        (DC09Frame(id: "SIA-DCS", sequence: 1, receiver: "1234567", account: "1234"), "R"),
        (DC09Frame(id: "SIA-DCS", sequence: 1, account: "1234", data: "a]b"), "data"),
        (DC09Frame(id: "sia", sequence: 1, account: "1234"), "ID"),
    ])
    func invalidFields(frame: DC09Frame, field: String) {
        do {
            _ = try frame.encode()
            Issue.record("built a frame with a bad \(field)")
        } catch {
            guard case .invalidField(let f, _, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(f == field)
        }
    }

    @Test("a wrong CRC is named with both values")
    func wrongCRC() {
        let wire = Array("\n633B003C\"SIA-DCS\"0001R0L0#1234[#1234|Nri1/PA501]_12:00:00,01-01-2025\r".utf8)
        #expect(throws: DC09CodecError.crcMismatch(declared: "633B", computed: "633A")) { try DC09Frame.decode(wire) }
    }

    @Test("a wrong length is named with both values")
    func wrongLength() {
        let wire = Array("\n633A003D\"SIA-DCS\"0001R0L0#1234[#1234|Nri1/PA501]_12:00:00,01-01-2025\r".utf8)
        #expect(throws: DC09CodecError.lengthMismatch(declared: 0x3D, actual: 0x3C)) { try DC09Frame.decode(wire) }
    }

    @Test("garbage is refused with the offset where it stops being a frame", arguments: [
        ("\nhello world, this is not DC-09\r", 1),
        ("\n633A", 1),
    ])
    func garbage(wire: String, offset: Int) {
        do {
            _ = try DC09Frame.decode(Array(wire.utf8))
            Issue.record("read garbage as a frame")
        } catch {
            guard case .malformed(_, let o) = error else { Issue.record("unexpected \(error)"); return }
            #expect(o == offset)
        }
    }

    @Test("a well-checksummed body with a broken header is refused at the byte that breaks it")
    func brokenHeader() throws {
        var wire = try DC09Frame.wrap(body: "\"SIA-DCS\"0001X0L0#1234[]")
        #expect(throws: DC09CodecError.malformed(reason: "unexpected \"X\" in the header (R, L, # or [ expected)", offset: 1 + 8 + 13)) { try DC09Frame.decode(wire) }
        wire = try DC09Frame.wrap(body: "\"SIA-DCS\"0001R0L0#1234[no closing bracket")
        #expect(throws: DC09CodecError.self) { try DC09Frame.decode(wire) }
    }

    @Test("an encrypted frame with a wrong key is refused, not misread")
    func wrongKey() {
        #expect(throws: DC09CodecError.self) {
            try DC09Frame.decode(Array(FrameTests.encryptedWire.utf8), key: Array("FEDCBA9876543210".utf8))
        }
        #expect(throws: DC09CodecError.encryptedWithoutKey) { try DC09Frame.decode(Array(FrameTests.encryptedWire.utf8)) }
    }

    @Test("more than 1 KiB is refused unread")
    func oversized() {
        #expect(throws: DC09CodecError.oversized(bytes: 1025)) { try DC09Frame.decode([UInt8](repeating: 0x41, count: 1025)) }
    }
}
