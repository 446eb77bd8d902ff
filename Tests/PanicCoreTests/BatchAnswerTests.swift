import PanicCore
import Testing

@Suite("The receiver's answer to a batch: taken only when it answers each alert sent, in order")
struct BatchAnswerTests {
    let ids = ["a", "b", "c"]

    func parse(_ text: String) -> [BatchAnswer.Entry]? { BatchAnswer.parse(Array(text.utf8), ids: ids) }

    @Test("one entry per alert, in order, each with its status and error")
    func wellFormed() throws {
        let entries = try #require(parse(#"{"results":[{"id":"a","status":201},{"id":"b","status":200},{"error":"line is not an alert","status":400}]}"#))
        #expect(entries.map(\.status) == [201, 200, 400])
        #expect(entries[2].error == "line is not an alert" && entries[2].id == nil)
    }

    @Test("no answer at all: too few or too many entries, another alert named, a 2xx naming none, a status out of range, not JSON",
          arguments: [
              #"{"results":[{"id":"a","status":201},{"id":"b","status":201}]}"#,
              #"{"results":[{"id":"a","status":201},{"id":"b","status":201},{"id":"c","status":201},{"id":"d","status":201}]}"#,
              #"{"results":[{"id":"a","status":201},{"id":"c","status":201},{"id":"b","status":201}]}"#,
              #"{"results":[{"id":"a","status":201},{"status":201},{"id":"c","status":201}]}"#,
              #"{"results":[{"id":"a","status":201},{"id":"b","status":700},{"id":"c","status":201}]}"#,
              #"{"results":[{"id":"a","status":201},{"id":"b","status":1e300},{"id":"c","status":201}]}"#,
              #"{"results":[{"id":"a","status":201},{"id":"b","status":-9223372036854775809},{"id":"c","status":201}]}"#,
              #"{"results":[{"id":"a","status":"201"},{"id":"b","status":201},{"id":"c","status":201}]}"#,
              #"{"error":"storage unavailable"}"#,
              "<html>502 Bad Gateway</html>",
              "",
          ])
    func refused(answer: String) {
        #expect(parse(answer) == nil)
    }
}
