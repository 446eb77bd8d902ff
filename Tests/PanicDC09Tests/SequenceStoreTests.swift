import Foundation
@testable import PanicDC09
import Testing

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "/dc09-test-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("DC-09 sequence numbers")
struct SequenceStoreTests {
    @Test("numbers go on across restarts, and an unacknowledged alert keeps its number")
    func persisted() {
        let path = temporaryDirectory() + "/dc09-arc.seq"
        do {
            let s = DC09SequenceStore(path: path)
            #expect(s.loadProblem == nil)
            #expect(s.number(forAlert: 10) == 1)
            #expect(s.fresh() == 2)
            #expect(s.number(forAlert: 11) == 3)
            #expect(s.number(forAlert: 10) == 1)
            s.release(alert: 11)
        }
        let s = DC09SequenceStore(path: path)
        #expect(s.lastNumber == 3)
        #expect(s.number(forAlert: 10) == 1)
        #expect(s.number(forAlert: 12) == 4)
        // 11 was acknowledged: a later transmission would be a new message.
        #expect(s.number(forAlert: 11) == 5)
    }

    @Test("after 9999 comes 1")
    func wraps() throws {
        let path = temporaryDirectory() + "/dc09-arc.seq"
        try "last 9998\n".write(toFile: path, atomically: true, encoding: .utf8)
        let s = DC09SequenceStore(path: path)
        #expect(s.fresh() == 9999)
        #expect(s.fresh() == 1)
    }

    @Test("a damaged file is reported and numbering goes on from what could be read")
    func damaged() throws {
        let path = temporaryDirectory() + "/dc09-arc.seq"
        try "last 40\nalert 7 39\n\u{0}\u{1}garbage\n".write(toFile: path, atomically: true, encoding: .utf8)
        let s = DC09SequenceStore(path: path)
        #expect(s.loadProblem?.contains(":3: unreadable line") == true)
        #expect(s.number(forAlert: 7) == 39)
        #expect(s.fresh() == 41)
    }

    @Test("a directory that cannot be written is reported, and numbers are still handed out")
    func unwritable() {
        let s = DC09SequenceStore(path: "/nonexistent-dir-for-dc09/dc09-arc.seq")
        #expect(s.fresh() == 1)
        #expect(s.writeProblem?.contains("check that the state directory is writable") == true)
    }
}
