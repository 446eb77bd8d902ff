import PanicDC09
import Testing

@Test("the module builds") func builds() { #expect(String(describing: DC09.self) == "DC09") }
