/// CRC-16/ARC: polynomial 0x8005 reflected (0xA001), initial value 0, no
/// final XOR. DC-09 sends it as four upper-case hex digits over the bytes
/// from the opening `"` up to, not including, the closing CR.
public enum CRC16ARC {
    static let table: [UInt16] = (0..<256).map { i in
        var c = UInt16(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xA001 : c >> 1 }
        return c
    }

    /// The checksum of `bytes`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt16 where C.Element == UInt8 {
        var crc: UInt16 = 0
        for b in bytes { crc = (crc >> 8) ^ table[Int((crc ^ UInt16(b)) & 0xFF)] }
        return crc
    }

    /// The checksum as DC-09 writes it: four upper-case hex digits.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        DC09Hex.encode(checksum(bytes), digits: 4)
    }
}

/// Upper-case hex, without Foundation.
enum DC09Hex {
    static let digits = Array("0123456789ABCDEF".utf8)

    static func encode<T: BinaryInteger>(_ value: T, digits count: Int) -> String {
        var v = UInt64(value)
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: count)
        var i = count - 1
        while i >= 0 {
            out[i] = digits[Int(v & 0xF)]
            v >>= 4
            i -= 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// Decodes hex digits (either case); nil on an odd count or a non-hex byte.
    static func decode<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var it = text.makeIterator()
        while let h = it.next(), let l = it.next() {
            guard let hv = value(h), let lv = value(l) else { return nil }
            out.append(hv << 4 | lv)
        }
        return out
    }

    /// Parses hex digits as a number; nil if any is not hex.
    static func number<C: Collection>(_ text: C) -> Int? where C.Element == UInt8 {
        guard !text.isEmpty, text.count <= 8 else { return nil }
        var n = 0
        for c in text {
            guard let v = value(c) else { return nil }
            n = n << 4 | Int(v)
        }
        return n
    }
}
