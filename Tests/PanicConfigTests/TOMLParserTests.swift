@testable import PanicConfig
import Testing

/// Parses, or nil when the parser refuses (the tests look at the error).
private func parse(_ text: String) -> TOMLTable? {
    try? TOMLTable(string: text)
}

/// The error for `text`, or nil when it parses.
private func failure(_ text: String) -> TOMLSyntaxError? {
    failure(bytes: Array(text.utf8))
}

private func failure(bytes: [UInt8]) -> TOMLSyntaxError? {
    do {
        _ = try TOMLTable(bytes: bytes)
        return nil
    } catch {
        return error
    }
}

/// The value at a dotted path of bare keys, through tables only.
private func value(_ text: String, _ path: String) -> TOMLValue? {
    guard var table = parse(text) else { return nil }
    let keys = path.split(separator: ".").map(String.init)
    for key in keys.dropLast() {
        guard let next = table[key]?.table else { return nil }
        table = next
    }
    guard let last = keys.last else { return nil }
    return table[last]
}

@Suite("TOML: keys, tables and arrays of tables")
struct TOMLStructureTests {
    @Test("empty documents, blank lines and comments give an empty root")
    func emptyDocuments() throws {
        for text in ["", "\n\n", "# only a comment", "  \t\n# c\n\r\n   # indented\n"] {
            let t = try TOMLTable(string: text)
            #expect(t.keys.isEmpty, "\(text)")
            #expect(t.line == 1)
        }
    }

    @Test("bare, basic-quoted and literal-quoted keys, in the order written")
    func keyKinds() throws {
        let t = try TOMLTable(string: """
            bare_key-1 = 1
            "quoted key" = 2
            'literal "key"' = 3
            "" = 4
            1234 = 5
            "\\u00e9t\\u00e9" = 6
            """)
        #expect(t.keys == ["bare_key-1", "quoted key", "literal \"key\"", "", "1234", "été"])
        #expect(t["literal \"key\""]?.int == 3)
        #expect(t[""]?.int == 4)
        #expect(t["été"]?.int == 6)
        #expect(t.contains(key: "1234"))
        #expect(!t.contains(key: "missing"))
        #expect(t["missing"] == nil)
    }

    @Test("dotted keys make intermediate tables, at the root and inside a table")
    func dottedKeys() throws {
        let t = try TOMLTable(string: """
            a.b.c = 1
            a . b . d = 2
            a."quoted.part".e = 3
            [t]
            x.y = "z"
            x.w = true
            """)
        #expect(t["a"]?.table?["b"]?.table?["c"]?.int == 1)
        #expect(t["a"]?.table?["b"]?.table?["d"]?.int == 2)
        #expect(t["a"]?.table?["quoted.part"]?.table?["e"]?.int == 3)
        #expect(t["t"]?.table?["x"]?.table?["y"]?.string == "z")
        #expect(t["t"]?.table?["x"]?.table?["w"]?.bool == true)
        #expect(t["a"]?.table?.keys == ["b", "quoted.part"])
    }

    @Test("[a.b.c] makes a and a.b implicitly; [a] may still be defined once")
    func headersMakeIntermediates() throws {
        let t = try TOMLTable(string: """
            [a.b.c]
            x = 1
            [a]
            y = 2
            [a.b]
            z = 3
            """)
        #expect(t["a"]?.table?["b"]?.table?["c"]?.table?["x"]?.int == 1)
        #expect(t["a"]?.table?["y"]?.int == 2)
        #expect(t["a"]?.table?["b"]?.table?["z"]?.int == 3)
    }

    @Test("[[array]] appends tables; [array.sub] and [[array.sub]] go into the last one")
    func arraysOfTables() throws {
        let t = try TOMLTable(string: """
            [[fruit]]
            name = "apple"
            [fruit.physical]
            color = "red"
            [[fruit.variety]]
            name = "red delicious"
            [[fruit.variety]]
            name = "granny smith"
            [[fruit]]
            name = "banana"
            [[fruit.variety]]
            name = "plantain"
            """)
        let fruit = try #require(t["fruit"]?.array)
        #expect(fruit.count == 2)
        #expect(fruit[0].table?["name"]?.string == "apple")
        #expect(fruit[0].table?["physical"]?.table?["color"]?.string == "red")
        #expect(fruit[0].table?["variety"]?.array?.count == 2)
        #expect(fruit[0].table?["variety"]?.array?[1].table?["name"]?.string == "granny smith")
        #expect(fruit[1].table?["name"]?.string == "banana")
        #expect(fruit[1].table?["variety"]?.array?.count == 1)
        #expect(fruit[1].table?["physical"] == nil)
    }

    @Test("the same [x.sub] header is allowed once per [[x]] element")
    func sameSubTablePerElement() throws {
        let t = try TOMLTable(string: "[[x]]\n[x.sub]\na = 1\n[[x]]\n[x.sub]\na = 2\n")
        #expect(t["x"]?.array?.map { $0.table?["sub"]?.table?["a"]?.int } == [1, 2])
    }

    @Test("sub-tables of a table defined by dotted keys may still get headers")
    func subTableOfDottedTable() throws {
        let t = try TOMLTable(string: """
            [fruit]
            apple.color = "red"
            apple.taste.sweet = true
            [fruit.apple.texture]
            smooth = true
            """)
        #expect(t["fruit"]?.table?["apple"]?.table?["texture"]?.table?["smooth"]?.bool == true)
        #expect(t["fruit"]?.table?["apple"]?.table?["taste"]?.table?["sweet"]?.bool == true)
    }

    @Test("a header may have spaces and quoted parts")
    func headerSpacing() throws {
        let t = try TOMLTable(string: "[ a . \"b c\" . 'd' ]\nx = 1\n[[ list ]]\n")
        #expect(t["a"]?.table?["b c"]?.table?["d"]?.table?["x"]?.int == 1)
        #expect(t["list"]?.array?.count == 1)
    }

    @Test("a UTF-8 byte order mark at the start is skipped")
    func byteOrderMark() throws {
        let t = try TOMLTable(bytes: [0xEF, 0xBB, 0xBF] + Array("a = 1\n".utf8))
        #expect(t["a"]?.int == 1)
        #expect(failure(bytes: [0xEF, 0xBB, 0xBF] + Array("=".utf8))?.column == 1)
    }

    @Test("CRLF line endings work everywhere; a lone CR is refused")
    func crlf() throws {
        let t = try TOMLTable(string: "a = 1\r\n# c\r\n[t]\r\nb = [\r\n 1,\r\n]\r\ns = \"\"\"\r\nx\r\ny\"\"\"\r\n")
        #expect(t["a"]?.int == 1)
        #expect(t["t"]?.table?["b"]?.array?.count == 1)
        #expect(t["t"]?.table?["s"]?.string == "x\ny")
        #expect(t["t"]?.table?.line(of: "s") == 7)
        let e = failure("a = 1\rb = 2")
        #expect(e?.line == 1)
        #expect(e?.message.contains("carriage return") == true)
    }
}

@Suite("TOML: strings")
struct TOMLStringTests {
    @Test("basic strings resolve every TOML escape")
    func basicEscapes() {
        #expect(value(#"s = "a\bb\tc\nd\fe\rf\"g\\h""#, "s")?.string == "a\u{08}b\tc\nd\u{0C}e\rf\"g\\h")
        #expect(value(#"s = "\u00E9\U0001F600\u0000""#, "s")?.string == "é😀\u{0}")
        #expect(value("s = \"tab\tinside\"", "s")?.string == "tab\tinside")
        #expect(value("s = \"unicode é 😀\"", "s")?.string == "unicode é 😀")
    }

    @Test("invalid escapes, surrogates and out-of-range scalars are refused")
    func badEscapes() {
        let bad = [#"s = "\x41""#, #"s = "\e""#, #"s = "\ ""#, #"s = "\uD800""#, #"s = "\uDFFF""#,
                   #"s = "\U00110000""#, #"s = "\UFFFFFFFF""#, #"s = "\u12""#, #"s = "\u12G4""#, #"s = "\"#]
        for text in bad {
            let e = failure(text)
            #expect(e?.line == 1, "\(text)")
            #expect(e?.column == 6, "\(text)")
        }
        #expect(failure(#"s = "\uD800""#)?.message.contains("not a Unicode scalar value") == true)
        #expect(failure(#"s = "\q""#)?.message.contains("invalid escape") == true)
    }

    @Test("literal strings take backslashes as written")
    func literalStrings() {
        #expect(value(#"p = 'C:\Users\nodejs\templates'"#, "p")?.string == #"C:\Users\nodejs\templates"#)
        #expect(value("p = ''", "p")?.string == "")
        #expect(value(#"p = '<\i\c*\s*>'"#, "p")?.string == #"<\i\c*\s*>"#)
    }

    @Test("multi-line basic strings: first newline dropped, line-ending backslash, quotes inside")
    func multiLineBasic() {
        #expect(value("s = \"\"\"\nRoses\nViolets\"\"\"", "s")?.string == "Roses\nViolets")
        #expect(value("s = \"\"\"\nThe quick \\\n\n   brown \\   \n  fox.\"\"\"", "s")?.string == "The quick brown fox.")
        #expect(value("s = \"\"\"Here are two quotes: \"\". Simple.\"\"\"", "s")?.string == "Here are two quotes: \"\". Simple.")
        #expect(value("s = \"\"\"\"one\"\"\"\"", "s")?.string == "\"one\"")
        #expect(value("s = \"\"\"two\"\"\"\"\"", "s")?.string == "two\"\"")
        #expect(value("s = \"\"\"\"\"\"", "s")?.string == "")
        #expect(value("s = \"\"\"a\\tb \\u00E9\"\"\"", "s")?.string == "a\tb é")
        #expect(failure("s = \"\"\"a\"\"\"\"\"\"")?.line == 1)
        #expect(failure("s = \"\"\"a\\ b\"\"\"")?.message.contains("invalid escape") == true)
    }

    @Test("multi-line literal strings are taken as written")
    func multiLineLiteral() {
        #expect(value("s = '''\nThe first newline is\ntrimmed in raw strings.\n   \\n stays'''", "s")?.string
            == "The first newline is\ntrimmed in raw strings.\n   \\n stays")
        #expect(value("s = ''''That,' she said'''", "s")?.string == "'That,' she said")
        #expect(value("s = '''a'''''", "s")?.string == "a''")
    }

    @Test("strings that do not end are refused at their opening quote")
    func unterminated() {
        #expect(failure("a = 1\ns = \"abc")?.line == 2)
        #expect(failure("a = 1\ns = \"abc")?.column == 5)
        #expect(failure("s = 'abc")?.column == 5)
        #expect(failure("x = 1\ns = \"\"\"abc\n\ndef")?.line == 2)
        #expect(failure("s = '''abc\n")?.line == 1)
        let e = failure("s = \"abc\nrest\"")
        #expect(e?.line == 1)
        #expect(e?.message.contains("end of line") == true)
        #expect(failure("s = 'abc\nrest'")?.line == 1)
    }

    @Test("control characters must be escaped in strings and are refused in comments")
    func controlCharacters() {
        #expect(failure("s = \"a\u{0}b\"")?.message == "control character U+0000 must be escaped in a string")
        #expect(failure("s = \"a\u{1F}b\"")?.column == 7)
        #expect(failure("s = \"a\u{7F}b\"") != nil)
        #expect(failure("s = 'a\u{7}b'") != nil)
        #expect(failure("s = \"\"\"a\u{0}b\"\"\"") != nil)
        #expect(failure("s = '''a\u{0}b'''") != nil)
        #expect(failure("a = 1 # bell \u{7}\n")?.message.contains("comment") == true)
        #expect(failure("a = 1 # del \u{7F}") != nil)
        #expect(parse("a = 1 # tab \t and é are fine") != nil)
    }

    @Test("a key cannot be a multi-line string")
    func multiLineKey() {
        #expect(failure("\"\"\"k\"\"\" = 1")?.message == "a key cannot be a multi-line string")
        #expect(failure("'''k''' = 1") != nil)
    }
}

@Suite("TOML: numbers, booleans, date-times")
struct TOMLScalarTests {
    @Test("decimal, signed, underscored, hexadecimal, octal and binary integers")
    func integers() {
        let t = parse("""
            a = 99
            b = +42
            c = -17
            d = 0
            e = -0
            f = 1_000_000
            g = 0xDEAD_beef
            h = 0o755
            i = 0b1101_0110
            j = 9223372036854775807
            k = -9223372036854775808
            l = 0x7FFFFFFFFFFFFFFF
            """)
        #expect(t?["a"]?.int == 99)
        #expect(t?["b"]?.int == 42)
        #expect(t?["c"]?.int == -17)
        #expect(t?["d"]?.int == 0)
        #expect(t?["e"]?.int == 0)
        #expect(t?["f"]?.int == 1_000_000)
        #expect(t?["g"]?.int == 0xDEAD_BEEF)
        #expect(t?["h"]?.int == 0o755)
        #expect(t?["i"]?.int == 0b1101_0110)
        #expect(t?["j"]?.int == Int.max)
        #expect(t?["k"]?.int == Int.min)
        #expect(t?["l"]?.int == Int.max)
    }

    @Test("integers out of range are refused with their text, never trapping")
    func integerOverflow() {
        let e = failure("ok = 1\nbig = 99999999999999999999")
        #expect(e?.line == 2)
        #expect(e?.column == 7)
        #expect(e?.message.hasPrefix("integer 99999999999999999999 is out of range") == true)
        for text in ["9223372036854775808", "-9223372036854775809", "0x8000000000000000",
                     "0o1777777777777777777777", "0b" + String(repeating: "1", count: 64),
                     String(repeating: "9", count: 5000)] {
            #expect(failure("n = \(text)")?.message.contains("out of range") == true, "\(text)")
        }
    }

    @Test("malformed integers are refused")
    func badIntegers() {
        for text in ["01", "00", "-01", "+0x1", "-0b1", "0X1F", "0x", "0xG", "1__2", "_1", "1_", "0x_1",
                     "0b102", "0o8", "12a", "1-2", "--1", "+", "-", "1 2", "0_1"] {
            #expect(failure("n = \(text)") != nil, "\(text)")
        }
        #expect(failure("n = 012")?.message.contains("leading zeros") == true)
    }

    @Test("floats: fraction, exponent, underscores, inf and nan with sign")
    func floats() {
        let t = parse("""
            a = 1.0
            b = 3.1415
            c = -0.01
            d = 5e+22
            e = 1e06
            f = -2E-2
            g = 6.626e-34
            h = 224_617.445_991
            i = inf
            j = +inf
            k = -inf
            l = nan
            m = -nan
            n = +nan
            o = 0e0
            p = -0.0
            """)
        #expect(t?["a"]?.double == 1.0)
        #expect(t?["b"]?.double == 3.1415)
        #expect(t?["c"]?.double == -0.01)
        #expect(t?["d"]?.double == 5e22)
        #expect(t?["e"]?.double == 1e6)
        #expect(t?["f"]?.double == -0.02)
        #expect(t?["g"]?.double == 6.626e-34)
        #expect(t?["h"]?.double == 224_617.445_991)
        #expect(t?["i"]?.double == .infinity)
        #expect(t?["j"]?.double == .infinity)
        #expect(t?["k"]?.double == -.infinity)
        #expect(t?["l"]?.double?.isNaN == true)
        #expect(t?["m"]?.double?.isNaN == true)
        #expect(t?["n"]?.double?.isNaN == true)
        #expect(t?["o"]?.double == 0)
        #expect(t?["p"]?.double?.sign == .minus)
        #expect(t?["a"]?.int == nil)
        #expect(t?["a"]?.type == "float")
    }

    @Test("malformed and out-of-range floats are refused")
    func badFloats() {
        for text in [".5", "5.", "1.e5", "1e", "1e+", "1.5.2", "01.5", "1._5", "1.5_", "1e_5", "3.e+20",
                     "infinity", "Inf", "NaN", "+-1.0", "1,5"] {
            #expect(failure("f = \(text)") != nil, "\(text)")
        }
        #expect(failure("f = 1e400")?.message == "float 1e400 is out of range")
        #expect(value("f = 1e-400", "f")?.double == 0)
    }

    @Test("booleans; other bare words are refused as unquoted strings")
    func booleans() {
        #expect(value("b = true", "b")?.bool == true)
        #expect(value("b = false", "b")?.bool == false)
        #expect(value("b = true", "b")?.type == "boolean")
        for text in ["True", "FALSE", "truex", "yes", "hello"] {
            #expect(failure("b = \(text)")?.message.contains("strings must be quoted") == true, "\(text)")
        }
        #expect(failure("b = true1") != nil)
    }

    @Test("date-times in their four forms come back as written")
    func dateTimes() {
        let forms = ["1979-05-27T07:32:00Z", "1979-05-27T00:32:00-07:00", "1979-05-27T00:32:00.999999+05:30",
                     "1979-05-27 07:32:00Z", "1979-05-27t07:32:00z", "1979-05-27T07:32:00", "1979-05-27T00:32:00.5",
                     "1979-05-27", "07:32:00", "00:32:00.999999", "2024-02-29", "1990-12-31T23:59:60Z"]
        for text in forms {
            #expect(value("d = \(text)", "d") == .datetime(text), "\(text)")
        }
        #expect(value("d = 1979-05-27 # a date, then a comment", "d") == .datetime("1979-05-27"))
        #expect(value("d = [1979-05-27, 07:32:00]", "d")?.array?.count == 2)
        #expect(value("d = 07:32:00", "d")?.type == "date-time")
        #expect(value("d = {x = 1979-05-27T07:32:00Z}", "d")?.table?["x"] == .datetime("1979-05-27T07:32:00Z"))
    }

    @Test("malformed date-times are refused")
    func badDateTimes() {
        for text in ["1979-13-27", "1979-00-10", "1979-02-30", "2023-02-29", "1979-05-32", "1979-5-27",
                     "1979-05-27T25:00:00", "1979-05-27T07:60:00", "1979-05-27T07:32:61", "1979-05-27T07:32",
                     "07:32", "1979-05-27T07:32:00+25:00", "1979-05-27T07:32:00.", "1979-05-27T", "1979-05-27x",
                     "07:32:00Z", "1979-05-27T07:32:00+05"] {
            #expect(failure("d = \(text)") != nil, "\(text)")
        }
        #expect(failure("d = 1979-13-27")?.message == "invalid date-time 1979-13-27: month must be 01 to 12")
        #expect(failure("d = 1979-05-27 07:32:00+25:00")?.message
            == "invalid date-time 1979-05-27 07:32:00+25:00: offset must be -23:59 to +23:59")
    }
}

@Suite("TOML: arrays and inline tables")
struct TOMLCompositeTests {
    @Test("arrays: mixed types, nesting, trailing comma, newlines and comments inside")
    func arrays() throws {
        let t = try TOMLTable(string: """
            empty = []
            ints = [ 1, 2, 3 ]
            mixed = [1, "two", 3.0, true, [4], {five = 5}]
            trailing = [1, 2,]
            spread = [ # a comment
              1, # one
              # nothing
              2
              ,
            ]
            nested = [[1, 2], [], ["a"]]
            """)
        #expect(t["empty"]?.array?.isEmpty == true)
        #expect(t["ints"]?.array?.map { $0.int } == [1, 2, 3])
        let mixed = try #require(t["mixed"]?.array)
        #expect(mixed.map(\.type) == ["integer", "string", "float", "boolean", "array", "table"])
        #expect(mixed[5].table?["five"]?.int == 5)
        #expect(t["trailing"]?.array?.count == 2)
        #expect(t["spread"]?.array?.map { $0.int } == [1, 2])
        #expect(t["spread"]?.array?.line == 5)
        #expect(t["nested"]?.array?[0].array?.map { $0.int } == [1, 2])
    }

    @Test("malformed arrays are refused")
    func badArrays() {
        #expect(failure("a = [,]")?.message == "expected a value, found ','")
        #expect(failure("a = [1,,2]") != nil)
        #expect(failure("a = [1 2]")?.message == "expected ',' or ']' in array, found '2'")
        let e = failure("a = [1,\n2,\n")
        #expect(e?.line == 3)
        #expect(e?.message == "unterminated array (opened on line 1): expected ']'")
    }

    @Test("inline tables: empty, nested, dotted keys inside")
    func inlineTables() throws {
        let t = try TOMLTable(string: """
            name = { first = "Tom", last = "Preston-Werner" }
            point = {x=1,y=2}
            empty = {}
            nested = { a = { b = { c = 1 } }, list = [ { d = 2 } ] }
            animal = { type.name = "pug", type.size = "small" }
            """)
        #expect(t["name"]?.table?.keys == ["first", "last"])
        #expect(t["point"]?.table?["y"]?.int == 2)
        #expect(t["empty"]?.table?.keys == [])
        #expect(t["nested"]?.table?["a"]?.table?["b"]?.table?["c"]?.int == 1)
        #expect(t["nested"]?.table?["list"]?.array?[0].table?["d"]?.int == 2)
        #expect(t["animal"]?.table?["type"]?.table?["size"]?.string == "small")
    }

    @Test("inline tables refuse trailing commas, newlines and duplicates")
    func badInlineTables() {
        #expect(failure("a = {x = 1,}")?.message == "trailing comma is not allowed in an inline table")
        #expect(failure("a = {x = 1\n}")?.message.contains("one line") == true)
        #expect(failure("a = {\nx = 1}")?.message.contains("one line") == true)
        #expect(failure("a = {x = 1 # c\n}") != nil)
        #expect(failure("a = {x = 1, x = 2}")?.message == "duplicate key \"x\" (first defined on line 1)")
        #expect(failure("a = {x = 1 y = 2}")?.message == "expected ',' or '}' in inline table, found 'y'")
        #expect(failure("a = {x = 1")?.message.contains("unterminated inline table") == true)
        #expect(failure("a = {,}") != nil)
        #expect(failure("a = {x.y = 1, x = 2}") != nil)
        #expect(failure("a = {x = {y = 1}, x.z = 2}")?.message.contains("cannot add to inline table") == true)
    }

    @Test("an array inside an inline table may span lines")
    func multiLineArrayInInlineTable() throws {
        let t = try TOMLTable(string: "a = { list = [\n1,\n2] }\nb = 1")
        #expect(t["a"]?.table?["list"]?.array?.count == 2)
        #expect(t.line(of: "b") == 4)
    }

    @Test("nothing may be added to an inline table afterwards")
    func inlineTablesAreClosed() {
        let e = failure("a = {x = 1}\n[a]\ny = 2")
        #expect(e?.line == 2)
        #expect(e?.message == "cannot add to inline table a (defined on line 1)")
        #expect(failure("a = {x = 1}\na.y = 2")?.message == "cannot add to inline table a (defined on line 1)")
        #expect(failure("a = {x = {}}\n[a.x.z]")?.message.contains("cannot add to inline table") == true)
        #expect(failure("a = {x = 1}\n[[a]]")?.message.contains("conflicts with table") == true)
        #expect(failure("a = {x.y = 1}\n[a.x]")?.message.contains("cannot add to inline table") == true)
        #expect(failure("a = [{x = 1}]\n[[a]]")?.message.contains("static array") == true)
        #expect(failure("a = [{x = 1}]\n[a.b]")?.message.contains("not a table") == true)
    }
}

@Suite("TOML: redefinition rules")
struct TOMLRedefinitionTests {
    @Test("a key defined twice is refused with both lines")
    func duplicateKey() {
        let e = failure("# c\nx = 1\ny = 2\nx = 3")
        #expect(e?.line == 4)
        #expect(e?.column == 1)
        #expect(e?.message == "duplicate key \"x\" (first defined on line 2)")
        #expect(failure("x = 1\n\"x\" = 2")?.message == "duplicate key \"x\" (first defined on line 1)")
        #expect(failure("\"\" = 1\n'' = 2")?.message == "duplicate key \"\" (first defined on line 1)")
        #expect(failure("a.\"b c\" = 1\na.'b c' = 2")?.message == "duplicate key \"a.b c\" (first defined on line 1)")
        #expect(failure("[t]\na = 1\n[u]\n[t.sub]\n[t]\n")?.message == "table [t] defined twice (first on line 1)")
        #expect(failure("a.b = 1\na.b = 2")?.message == "duplicate key \"a.b\" (first defined on line 1)")
        #expect(failure("a.b.c = 1\na.b = 2")?.line == 2)
        #expect(failure("a = 1\na.b = 2")?.message == "key a is already defined as an integer on line 1, not a table")
    }

    @Test("a table header twice is refused")
    func tableTwice() {
        let e = failure("[a]\nx = 1\n\n[a]\ny = 2")
        #expect(e?.line == 4)
        #expect(e?.column == 2)
        #expect(e?.message == "table [a] defined twice (first on line 1)")
        #expect(failure("[a.b]\n[a]\n[a]")?.message == "table [a] defined twice (first on line 2)")
        #expect(failure("[a]\nb = 1\n[a.b]")?.message == "key a.b is already defined as an integer on line 2, not a table")
        #expect(failure("[a.b]\nc = 1\n[a]\nb = 2")?.message == "duplicate key \"b\" (first defined on line 1)")
    }

    @Test("arrays of tables and tables do not mix")
    func arrayTableConflicts() {
        let e = failure("a = 1\n[[a]]")
        #expect(e?.line == 2)
        #expect(e?.message == "key a is already defined as an integer on line 1, not an array of tables")
        #expect(failure("a = []\n[[a]]")?.message == "cannot append to static array a (defined on line 1) with [[a]]")
        #expect(failure("[a]\n[[a]]")?.message == "array of tables [[a]] conflicts with table [a] (defined on line 1)")
        #expect(failure("[[a]]\n[a]")?.message == "table [a] conflicts with array of tables [[a]] (first defined on line 1)")
        #expect(failure("[[a.b]]\n[a]\nb = 1")?.message == "duplicate key \"b\" (first defined on line 1)")
    }

    @Test("dotted keys cannot extend a table defined elsewhere")
    func dottedKeysAndHeaders() {
        let e = failure("[fruit]\napple.color = \"red\"\n[fruit.apple]\n")
        #expect(e?.line == 3)
        #expect(e?.message == "table [fruit.apple] defined twice (first on line 2)")
        #expect(failure("[a.b.c]\nz = 9\n[a]\nb.c.t = 1")?.message == "dotted key cannot add to table b.c, already defined on line 1")
        #expect(failure("a.b = 1\n[a]")?.message == "table [a] defined twice (first on line 1)")
        #expect(failure("[[a]]\n[x]\n[a.b]\n[x.y]\n[t]\n") == nil)
        #expect(failure("[x]\n[[x.a]]\n[y]\n") == nil)
        #expect(failure("[[t.a]]\n[t]\na.b = 1")?.message.contains("array of tables") == true)
    }

    @Test("a table made implicitly by a header may get keys by dotted keys once")
    func dottedIntoImplicit() throws {
        let t = try TOMLTable(string: "[a.b.c]\n[a]\nb.d = 1\nb.e = 2")
        #expect(t["a"]?.table?["b"]?.table?.keys == ["c", "d", "e"])
        #expect(failure("[a.b.c]\n[a]\nb.d = 1\n[a.b]") != nil)
    }
}

@Suite("TOML: line numbers")
struct TOMLLineTests {
    static let doc = """
        # line 1
        title = "x"
        point.x = 1

        [server]
        host = "h"
        limits = { max = 3, min = 1 }
        [server.tls.files]
        cert = "c"

        [[inputs]]
        name = "a"
        source = { kind = "gpio", line = 4 }
        [[inputs]]
        name = "b"
        list = [
          { deep = 1 },
        ]
        """

    @Test("line(of:) in the root: key = value, dotted keys, headers, arrays of tables")
    func rootLines() throws {
        let t = try TOMLTable(string: Self.doc)
        #expect(t.line == 1)
        #expect(t.line(of: "title") == 2)
        #expect(t.line(of: "point") == 3)
        #expect(t["point"]?.table?.line(of: "x") == 3)
        #expect(t["point"]?.table?.line == 3)
        #expect(t.line(of: "server") == 5)
        #expect(t.line(of: "inputs") == 11)
        #expect(t["inputs"]?.array?.line == 11)
        #expect(t.line(of: "missing") == nil)
    }

    @Test("line(of:) inside [table], [a.b.c] intermediates and inline tables")
    func tableLines() throws {
        let t = try TOMLTable(string: Self.doc)
        let server = try #require(t["server"]?.table)
        #expect(server.line == 5)
        #expect(server.line(of: "host") == 6)
        #expect(server.line(of: "limits") == 7)
        let limits = try #require(server["limits"]?.table)
        #expect(limits.line == 7)
        #expect(limits.line(of: "max") == 7)
        #expect(server.line(of: "tls") == 8)
        #expect(server["tls"]?.table?.line(of: "files") == 8)
        #expect(server["tls"]?.table?["files"]?.table?.line(of: "cert") == 9)
    }

    @Test("line(of:) in each [[array]] item and in inline tables inside arrays")
    func arrayItemLines() throws {
        let t = try TOMLTable(string: Self.doc)
        let inputs = try #require(t["inputs"]?.array)
        let first = try #require(inputs[0].table)
        let second = try #require(inputs[1].table)
        #expect(first.line == 11)
        #expect(first.line(of: "name") == 12)
        #expect(first["source"]?.table?.line(of: "line") == 13)
        #expect(second.line == 14)
        #expect(second.line(of: "name") == 15)
        #expect(second.line(of: "list") == 16)
        #expect(second["list"]?.array?.line == 16)
        #expect(second["list"]?.array?[0].table?.line == 17)
        #expect(second["list"]?.array?[0].table?.line(of: "deep") == 17)
    }

    @Test("an implicit table takes the line of the header that later defines it")
    func implicitThenDefined() throws {
        let t = try TOMLTable(string: "[a.b]\nx = 1\n\n[a]\ny = 2\n")
        #expect(t.line(of: "a") == 4)
        #expect(t["a"]?.table?.line == 4)
        #expect(t["a"]?.table?.line(of: "b") == 1)
    }

    @Test("lines count through multi-line strings and arrays")
    func linesThroughMultiLineValues() throws {
        let t = try TOMLTable(string: "a = \"\"\"\n1\n2\n\"\"\"\nb = '''\n\n'''\nc = [\n\n]\nd = \"\"\"x\\\n\n  y\"\"\"\ne = 1")
        #expect(t.line(of: "b") == 5)
        #expect(t.line(of: "c") == 8)
        #expect(t.line(of: "d") == 11)
        #expect(t.line(of: "e") == 14)
        #expect(t["d"]?.string == "xy")
    }

    @Test("columns count Unicode scalars, tabs as one")
    func columns() {
        #expect(failure("é = 1")?.column == 1)
        #expect(failure("\"é\" = 1\n\t\"é😀\" x")?.column == 7)
        #expect(failure("\"é\" = 1\n\t\"é😀\" x")?.line == 2)
        #expect(failure("a = 1 2")?.column == 7)
        #expect(failure("a = 1 2")?.description == "line 1, column 7: expected end of line after the value, found '2'")
    }
}

@Suite("TOML: hostile input")
struct TOMLHostileInputTests {
    @Test("inputs that abort toml++ are plain errors here")
    func tomlPlusPlusCrashers() {
        let cases: [(String, String)] = [
            ("[", "expected a key after '[', found end of file"),
            ("[&a]", "expected a key after '[', found '&'"),
            ("[.a]", "expected a key after '[', found '.'"),
            ("[[", "expected a key after '[[', found end of file"),
            ("a.=1", "expected a key after '.', found '='"),
            ("[a.b", "expected ']' to close table header [a.b], found end of file"),
        ]
        for (text, message) in cases {
            let e = failure(text)
            #expect(e?.line == 1, "\(text)")
            #expect(e?.message == message, "\(text)")
        }
        #expect(failure("[a.b")?.column == 5)
        #expect(failure("[&a]")?.column == 2)
    }

    @Test("malformed inputs are refused with a line, none traps")
    func malformedTable() {
        let cases: [(String, Int)] = [
            ("=", 1), ("= 1", 1), ("a", 1), ("a =", 1), ("a = ", 1), ("a = \n", 1), ("a == 1", 1),
            ("a = 1 b = 2", 1), ("\n\n[a", 3), ("[a]]", 1), ("[[a]", 1), ("[[a] ]", 1), ("[]", 1), ("[[]]", 1),
            ("[a.]", 1), ("[a..b]", 1), ("[a b]", 1), ("a..b = 1", 1), (".a = 1", 1), ("a. = 1", 1),
            ("\"a = 1", 1), ("'a = 1", 1), ("a = \"\\", 1), ("a = '''", 1), ("a = \"\"\"\n\n", 1),
            ("a = [", 1), ("a = [1", 1), ("a = {", 1), ("a = {b", 1), ("a = {b =", 1), ("a = {b = 1,", 1),
            ("a = ]", 1), ("a = }", 1), ("x = 1\n]", 2), ("x = 1\n}", 2), ("a = 1\n\u{0}", 2), ("a\u{0} = 1", 1),
            ("a = \u{0}", 1), ("a = 1\u{0}", 1), ("\u{7F}", 1), ("a = 0x", 1), ("a = 1979-", 1), ("a = 12:", 1),
            ("a = +", 1), ("a = -_", 1), ("a = .", 1), ("[a]\n[a.b]\n[a]", 3), ("a = [1,]]", 1),
            ("a = {}}", 1), ("a = [[]", 1), ("a = \"\\u\"", 1), ("a = \"\\U0000", 1), ("# \r", 1), ("\r", 1),
        ]
        for (text, line) in cases {
            let e = failure(text)
            #expect(e != nil, "\(text.debugDescription) should be refused")
            #expect(e?.line == line, "\(text.debugDescription)")
            #expect(e.map { $0.column >= 1 } ?? false, "\(text.debugDescription)")
            #expect(e.map { !$0.message.isEmpty } ?? false, "\(text.debugDescription)")
        }
        #expect(cases.count >= 30)
    }

    @Test("every prefix of a valid document parses or fails cleanly")
    func everyPrefix() {
        let doc = Array(TOMLLineTests.doc.utf8)
            + Array("\ns = \"\"\"a\\\n b\"\"\"\nd = 1979-05-27T07:32:00Z\nf = -1.5e3\nh = 0xff\n".utf8)
        for n in 0...doc.count {
            let e = failure(bytes: Array(doc[0..<n]))
            if let e { #expect(e.line >= 1 && e.column >= 1) }
        }
    }

    @Test("invalid UTF-8 is refused with the line and byte of the bad byte")
    func invalidUTF8() {
        let e = failure(bytes: Array("a = 1\nb = \"".utf8) + [0xFF] + Array("\"\n".utf8))
        #expect(e?.line == 2)
        #expect(e?.column == 6)
        #expect(e?.message == "invalid UTF-8 at byte 12")
        let sequences: [[UInt8]] = [
            [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF5, 0x80, 0x80, 0x80], [0x80], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xFE], [0xC3, 0x28],
        ]
        for bad in sequences {
            let e = failure(bytes: Array("# c\n".utf8) + bad)
            #expect(e?.line == 2, "\(bad)")
            #expect(e?.message == "invalid UTF-8 at byte 5", "\(bad)")
        }
        #expect(failure(bytes: Array("# \u{10FFFF} \u{E000} é 😀".utf8)) == nil)
    }

    @Test("nesting is limited to 64 levels of arrays, inline tables and tables")
    func depthLimit() {
        let ok = "a = " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(failure(ok) == nil)
        let deep = "a = " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(failure(deep)?.message == "nested too deeply: at most 64 levels of tables and arrays")
        #expect(failure(deep)?.column == 69)
        let inline = "a = " + String(repeating: "{b = ", count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(failure(inline)?.message.contains("nested too deeply") == true)
        let mixed = "a = " + String(repeating: "[{b = ", count: 40) + "1" + String(repeating: "}]", count: 40)
        #expect(failure(mixed)?.message.contains("nested too deeply") == true)
        // 65 parts: 64 tables, the last part is the key.
        let dotted = Array(repeating: "k", count: 66).joined(separator: ".") + " = 1"
        #expect(failure(dotted)?.message.contains("nested too deeply") == true)
        #expect(failure(Array(repeating: "k", count: 65).joined(separator: ".") + " = 1") == nil)
        let header = "[" + Array(repeating: "k", count: 65).joined(separator: ".") + "]"
        #expect(failure(header)?.message.contains("nested too deeply") == true)
        // Tables 1...60 from the header, 61 and 62 from a.b, arrays 63, 64, 65.
        let combined = "[" + Array(repeating: "k", count: 60).joined(separator: ".") + "]\na.b.c = [[[1]]]"
        #expect(failure(combined)?.line == 2)
        #expect(failure(combined)?.column == 11)
        #expect(failure("[" + Array(repeating: "k", count: 60).joined(separator: ".") + "]\na.b.c = [[1]]") == nil)
        let huge = "a = " + String(repeating: "[", count: 100_000)
        #expect(failure(huge)?.message.contains("nested too deeply") == true)
    }

    @Test("long inputs parse in one pass (100 000 [[items]] would take minutes if quadratic)", .timeLimit(.minutes(1)))
    func longInputs() throws {
        var text = ""
        for i in 0..<20_000 { text += "k\(i) = \(i)\n" }
        for i in 0..<100_000 { text += "[[items]]\nn = \(i)\n" }
        text += "long = \"" + String(repeating: "x", count: 200_000) + "\"\n"
        text += "wide = [" + String(repeating: "1,", count: 50_000) + "]\n"
        let t = try TOMLTable(string: text)
        #expect(t.keys.count == 20_001)
        #expect(t["items"]?.array?.count == 100_000)
        #expect(t["items"]?.array?[99_999].table?["n"]?.int == 99_999)
        #expect(t["items"]?.array?.last?.table?["long"]?.string?.count == 200_000)
        #expect(t["items"]?.array?.last?.table?["wide"]?.array?.count == 50_000)
        #expect(t.line(of: "items") == 20_001)
        let longKey = String(repeating: "k", count: 100_000)
        #expect(failure("\(longKey) = 1\n\(longKey) = 2")?.message == "duplicate key \"\(String(repeating: "k", count: 80))…\" (first defined on line 1)")
        #expect(failure(String(repeating: "\"", count: 100_000)) != nil)
        #expect(failure("a = " + String(repeating: "'", count: 100_000)) != nil)
        #expect(failure("a = \"\"\"" + String(repeating: "\"\"x", count: 50_000)) != nil)
    }
}

@Suite("TOML: values")
struct TOMLValueTests {
    @Test("accessors answer only for their own kind; double also reads integers")
    func accessors() {
        let s = TOMLValue.string("x")
        #expect(s.string == "x")
        #expect(s.int == nil && s.double == nil && s.bool == nil && s.table == nil && s.array == nil)
        #expect(TOMLValue.integer(3).double == 3.0)
        #expect(TOMLValue.integer(3).string == nil)
        #expect(TOMLValue.float(2.5).int == nil)
        #expect(TOMLValue.datetime("07:32:00").string == nil)
        let types = [TOMLValue.string(""), .integer(0), .float(0), .bool(true), .datetime("")].map(\.type)
        #expect(types == ["string", "integer", "float", "boolean", "date-time"])
        #expect(value("a = []", "a")?.type == "array")
        #expect(value("a = {}", "a")?.type == "table")
    }

    @Test("equality compares content, not lines or key order")
    func equality() throws {
        let a = try TOMLTable(string: "x = 1\ny = [1, {z = 'q'}]\n")
        let b = try TOMLTable(string: "\n\ny = [1, {z = \"q\"}]\nx = 1")
        let c = try TOMLTable(string: "x = 1\ny = [1, {z = 'r'}]\n")
        #expect(a == b)
        #expect(a != c)
        #expect(TOMLValue.table(a) == .table(b))
        #expect(a["y"] == b["y"])
        #expect(try TOMLTable(string: "a.b = 1") == TOMLTable(string: "[a]\nb = 1"))
    }

    @Test("errors print as line, column and message")
    func errorDescription() {
        let e = TOMLSyntaxError(line: 3, column: 7, message: "m")
        #expect(e.description == "line 3, column 7: m")
        #expect(e == TOMLSyntaxError(line: 3, column: 7, message: "m"))
    }
}
