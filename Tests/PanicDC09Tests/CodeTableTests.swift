import PanicConfig
import PanicCore
@testable import PanicDC09
import Testing

func alert(_ kind: AlertKind, restores: AlertKind? = nil, input: String? = "lobby", zone: Int? = 501, area: Int? = 1, test: Bool = false) -> Alert {
    Alert(id: "0190a0b0-0000-7000-8000-000000000001", gatewayID: "gw", site: "s", sequence: 1, kind: kind, restores: restores,
          input: input, zone: zone, area: area, occurredAt: notesTime, acceptedAt: notesTime, clockSynchronized: true, test: test)
}

@Suite("Alerts to DC-09 events")
struct CodeTableTests {
    @Test("defaults: SIA code, Contact ID qualifier and event", arguments: [
        (alert(.panic), "PA", 1, 120),
        (alert(.restore, restores: .panic), "PH", 3, 120),
        (alert(.duress), "HA", 1, 121),
        (alert(.restore, restores: .duress), "HH", 3, 121),
        (alert(.tamper), "TA", 1, 137),
        (alert(.restore, restores: .tamper), "TR", 3, 137),
        (alert(.trouble), "YX", 1, 300),
        (alert(.restore, restores: .trouble), "YZ", 3, 300),
        (alert(.test, test: true), "RX", 1, 601),
        (alert(.test, restores: .test, test: true), "RX", 3, 601),
        (alert(.heartbeat), "RP", 1, 602),
    ])
    func defaults(a: Alert, sia: String, q: Int, cid: Int) {
        let e = DC09CodeTable().event(for: a)
        #expect(e.sia == sia)
        #expect(e.cidQualifier == q)
        #expect(e.cidEvent == cid)
        #expect(e.zone == 501 && e.area == 1)
    }

    @Test("the service's own communications events: YS/1350 and YK/3350, zone 1")
    func communications() throws {
        let ys = DC09Event.communicationsTrouble(restored: false)
        let yk = DC09Event.communicationsTrouble(restored: true)
        #expect(try ys.data(format: .siaDCS, account: "1234") == "#1234|Nri0/YS1")
        #expect(try yk.data(format: .admCID, account: "1234") == "#1234|3350 00 001")
        #expect(try DC09Event.periodicTest().data(format: .admCID, account: "1234") == "#1234|1602 00 000")
    }

    @Test("no kind, with or without restore, ever becomes Contact ID 1123")
    func never1123() {
        for kind in AlertKind.allCases {
            for restores in [nil] + AlertKind.allCases.map(Optional.some) {
                for test in [false, true] {
                    #expect(DC09CodeTable().event(for: alert(kind, restores: restores, test: test)).cidEvent != 123)
                }
            }
        }
    }

    @Test("a test press on an input is a test, whatever the input is")
    func testIsTest() {
        let table = DC09CodeTable(overrides: ["lobby": .init(alarm: "HA")])
        #expect(table.event(for: alert(.test, test: true)).sia == "RX")
    }

    @Test("per-input overrides: SIA with and without restore, Contact ID event code")
    func overrides() {
        let table = DC09CodeTable(overrides: ["lobby": .init(alarm: "HA"), "desk": .init(alarm: "PA", restore: "PR"), "back": .init(alarm: "122")])
        #expect(table.event(for: alert(.panic)).sia == "HA")
        #expect(table.event(for: alert(.restore, restores: .panic)).sia == "HH")
        #expect(table.event(for: alert(.restore, restores: .panic, input: "desk")).sia == "PR")
        let back = table.event(for: alert(.restore, restores: .duress, input: "back"))
        #expect(back.cidEvent == 122 && back.cidQualifier == 3)
        #expect(table.event(for: alert(.panic, input: "other")).sia == "PA")
    }

    @Test("data in both formats: area and zone from the alert")
    func rendering() throws {
        let e = DC09CodeTable().event(for: alert(.panic))
        #expect(try e.data(format: .siaDCS, account: "1234") == "#1234|Nri1/PA501")
        #expect(try e.data(format: .admCID, account: "1234") == "#1234|1120 01 501")
        let noZone = DC09CodeTable().event(for: alert(.trouble, input: nil, zone: nil, area: nil))
        #expect(try noZone.data(format: .admCID, account: "1234") == "#1234|1300 00 000")
    }

    @Test("a zone or area that does not fit the format is an error that says so")
    func doesNotFit() {
        let e = DC09CodeTable().event(for: alert(.panic, zone: 1234))
        #expect(throws: DC09EventError.doesNotFit(field: "zone", value: 1234, format: .admCID, maximum: 999)) { try e.data(format: .admCID, account: "1234") }
        #expect((try? e.data(format: .siaDCS, account: "1234")) == "#1234|Nri1/PA1234")
        let a = DC09CodeTable().event(for: alert(.panic, area: 100))
        #expect(throws: DC09EventError.doesNotFit(field: "area", value: 100, format: .admCID, maximum: 99)) { try a.data(format: .admCID, account: "1234") }
    }

    @Test("composed frames: H carries the time of occurrence, the stamp is the sending time")
    func composed() throws {
        let c = DC09Composer(config: DC09Config(name: "arc", primary: .init(host: "127.0.0.1", port: 1), account: "1234"))
        let f = try c.eventFrame(DC09CodeTable().event(for: alert(.panic)), sequence: 1, sentAt: notesTime + .seconds(3600), occurredAt: notesTime)
        #expect(text(try c.encode(f)).hasSuffix("\"SIA-DCS\"0001R0L0#1234[#1234|Nri1/PA501][H12:00:00,01-01-2025]_13:00:00,01-01-2025\r"))
        #expect(text(try c.encode(c.supervisionFrame(sequence: 2, sentAt: notesTime))).hasSuffix("\"NULL\"0002R0L0#1234[]_12:00:00,01-01-2025\r"))
    }

    @Test("with a key configured every composed frame is encrypted, NULL included")
    func keyMeansEncrypted() throws {
        let c = DC09Composer(config: DC09Config(name: "arc", primary: .init(host: "127.0.0.1", port: 1), account: "AAA", key: notesKey))
        let plain = DC09Frame(id: "NULL", sequence: 1, account: "AAA", timestamp: notesTime)
        #expect(text(try c.encode(plain)).contains("\"*NULL\""))
        #expect(text(try c.encode(c.supervisionFrame(sequence: 2, sentAt: notesTime))).contains("\"*NULL\""))
    }
}
