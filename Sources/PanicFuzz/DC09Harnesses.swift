@preconcurrency import Crypto
import _CryptoExtras
import PanicCore
import PanicDC09

/// `dc09-frame`: one received frame, read without a key and with the fixed
/// key. A frame that reads and can be sent again (encode accepts it) must
/// read back to the same fields: decode(encode(f)) == f.
enum DC09FrameHarness {
    static func run(_ data: [UInt8]) {
        for key in [nil, Fixed.dc09Key] {
            guard let frame = try? DC09Frame.decode(data, key: key) else { continue }
            require((0...9999).contains(frame.sequence), "sequence \(frame.sequence)")
            _ = frame.timestamp
            guard let wire = try? frame.encode(key: key) else { continue }
            let back: DC09Frame
            do { back = try DC09Frame.decode(wire, key: key) } catch {
                fatalError("fuzz property violated: an encoded frame does not decode (\(error)): \(String(decoding: wire, as: UTF8.self))")
            }
            require(back == frame, "round trip changed the frame: \(frame) -> \(back)")
        }
    }
}

/// `dc09-encrypted`: the input is the plaintext of an encrypted frame.
///
/// Random bytes almost never decrypt to text, so the fuzzer could not get
/// past the cipher on its own: the harness encrypts the input (after its
/// first `[`) with the fixed key and frames it. Before that `[` is the header
/// after `"*` (or `SIA-DCS"0001R0L0#AAA` when the input holds no `[`). A
/// first byte `|` encrypts with DC09Cipher (`pad|content`, the standard);
/// anything else encrypts the content exactly as given, zero-padded in front
/// to whole blocks without a `|` (as pysiaalarm's replies come).
enum DC09EncryptedHarness {
    static let key = SymmetricKey(data: Fixed.dc09Key)

    static func run(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let standard = first == UInt8(ascii: "|")
        let input = standard ? data.dropFirst() : data[...]
        let header: ArraySlice<UInt8>, content: [UInt8]
        if let open = input.firstIndex(of: UInt8(ascii: "[")) {
            header = input[..<open]
            content = Array(input[(open + 1)...])
        } else {
            header = Array("SIA-DCS\"0001R0L0#AAA".utf8)[...]
            content = Array(input)
        }
        let hex: String
        if standard {
            let text = String(decoding: content, as: UTF8.self)
            let pad = String(repeating: "X", count: DC09Cipher.padLength(contentBytes: text.utf8.count))
            guard let h = try? DC09Cipher(key: Fixed.dc09Key).encrypt(content: text, pad: pad) else { return }
            hex = h
        } else {
            let plain = [UInt8](repeating: UInt8(ascii: "0"), count: (16 - content.count % 16) % 16) + content
            guard !plain.isEmpty,
                  let sealed = try? AES._CBC.encrypt(plain, using: key, iv: AES._CBC.IV(ivBytes: [UInt8](repeating: 0, count: 16)), noPadding: true)
            else { return }
            hex = sealed.map { b in String(b >> 4, radix: 16, uppercase: true) + String(b & 0xF, radix: 16, uppercase: true) }.joined()
        }
        let body = Array("\"*".utf8) + header + Array("[".utf8) + Array(hex.utf8)
        guard let wire = try? DC09Frame.wrap(body: String(decoding: body, as: UTF8.self)) else { return }
        if let frame = try? DC09Frame.decode(wire, key: Fixed.dc09Key) {
            require(frame.encrypted, "a *-frame decoded as plaintext")
            _ = frame.timestamp
            if let again = try? frame.encode(key: Fixed.dc09Key) {
                require((try? DC09Frame.decode(again, key: Fixed.dc09Key)) == frame, "encrypted round trip changed the frame")
            }
        }
        _ = try? DC09Reply.parse(wire, key: Fixed.dc09Key)
    }
}

/// `dc09-reply`: a receiver's answer stream, split as DC09Link splits it
/// (`DC09Reply.scan`), each reply parsed without and with the key.
enum DC09ReplyHarness {
    static func run(_ data: [UInt8]) {
        for key in [nil, Fixed.dc09Key] { _ = try? DC09Reply.parse(data, key: key) }
        var buffer = data[...]
        var replies = 0
        while !buffer.isEmpty, replies < 64 {
            switch DC09Reply.scan(Array(buffer)) {
            case .complete(let count):
                require(count > 0 && count <= buffer.count, "scan says \(count) of \(buffer.count) bytes")
                let reply = Array(buffer.prefix(count))
                for key in [nil, Fixed.dc09Key] {
                    if case .ack(let seq, _, _)? = try? DC09Reply.parse(reply, key: key) {
                        require((0...9999).contains(seq), "ack sequence \(seq)")
                    }
                }
                buffer = buffer.dropFirst(count)
                replies += 1
            case .needMore, .oversized:
                return
            }
        }
    }
}
