/// Date-times, recognised and checked, kept as written.
extension TOMLParser {
    /// `DDDD-` (a date) or `DD:` (a local time) ahead.
    func looksLikeDateTime() -> Bool {
        guard TOMLByte.isDigit(peek(0)), TOMLByte.isDigit(peek(1)) else { return false }
        if peek(2) == TOMLByte.colon { return true }
        return TOMLByte.isDigit(peek(2)) && TOMLByte.isDigit(peek(3)) && peek(4) == TOMLByte.minus
    }

    /// Offset date-time, local date-time, local date or local time, each
    /// with its fields in range; returned as the text written.
    mutating func parseDateTime() throws(TOMLSyntaxError) -> TOMLValue {
        let start = mark
        if peek(2) == TOMLByte.colon {
            try parseTime(start)
        } else {
            try parseDate(start)
            let c = peek()
            let hasTime = c == UInt8(ascii: "T") || c == UInt8(ascii: "t")
                || (c == TOMLByte.space && TOMLByte.isDigit(peek(1)) && TOMLByte.isDigit(peek(2)) && peek(3) == TOMLByte.colon)
            if hasTime {
                pos += 1
                try parseTime(start)
                try parseOffset(start)
            }
        }
        if let c = peek(), TOMLByte.isNumberToken(c) || c == TOMLByte.colon {
            throw badDateTime(start, "unexpected \(describe(at: pos))")
        }
        return .datetime(String(decoding: bytes[start.pos..<pos], as: UTF8.self))
    }

    mutating func parseDate(_ start: Mark) throws(TOMLSyntaxError) {
        let year = try fixedDigits(4, start)
        try expectByte(TOMLByte.minus, start)
        let month = try fixedDigits(2, start)
        try expectByte(TOMLByte.minus, start)
        let day = try fixedDigits(2, start)
        guard (1...12).contains(month) else { throw badDateTime(start, "month must be 01 to 12") }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { throw badDateTime(start, "day must be 01 to \(days)") }
    }

    mutating func parseTime(_ start: Mark) throws(TOMLSyntaxError) {
        let hour = try fixedDigits(2, start)
        try expectByte(TOMLByte.colon, start)
        let minute = try fixedDigits(2, start)
        try expectByte(TOMLByte.colon, start)
        let second = try fixedDigits(2, start)
        guard hour <= 23 else { throw badDateTime(start, "hour must be 00 to 23") }
        guard minute <= 59 else { throw badDateTime(start, "minute must be 00 to 59") }
        guard second <= 60 else { throw badDateTime(start, "second must be 00 to 60") }
        if peek() == TOMLByte.dot {
            pos += 1
            guard TOMLByte.isDigit(peek()) else { throw badDateTime(start, "expected digits after '.'") }
            while TOMLByte.isDigit(peek()) { pos += 1 }
        }
    }

    mutating func parseOffset(_ start: Mark) throws(TOMLSyntaxError) {
        guard let c = peek() else { return }
        if c == UInt8(ascii: "Z") || c == UInt8(ascii: "z") {
            pos += 1
        } else if c == TOMLByte.plus || c == TOMLByte.minus {
            pos += 1
            let hour = try fixedDigits(2, start)
            try expectByte(TOMLByte.colon, start)
            let minute = try fixedDigits(2, start)
            guard hour <= 23 && minute <= 59 else { throw badDateTime(start, "offset must be -23:59 to +23:59") }
        }
    }

    /// Exactly `count` (at most 4) digits as a number.
    mutating func fixedDigits(_ count: Int, _ start: Mark) throws(TOMLSyntaxError) -> Int {
        var value = 0
        for _ in 0..<count {
            guard let c = peek(), TOMLByte.isDigit(c) else { throw badDateTime(start, "expected a digit, found \(describe(at: pos))") }
            value = value * 10 + Int(c - TOMLByte.zero)
            pos += 1
        }
        return value
    }

    mutating func expectByte(_ b: UInt8, _ start: Mark) throws(TOMLSyntaxError) {
        guard peek() == b else {
            throw badDateTime(start, "expected '\(Character(Unicode.Scalar(b)))', found \(describe(at: pos))")
        }
        pos += 1
    }

    func badDateTime(_ start: Mark, _ why: String) -> TOMLSyntaxError {
        var end = max(start.pos, pos)
        while end < bytes.count, TOMLByte.isNumberToken(bytes[end]) || bytes[end] == TOMLByte.colon { end += 1 }
        return failure("invalid date-time \(excerpt(start.pos..<end)): \(why)", at: start)
    }
}
