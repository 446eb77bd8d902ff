import PanicCore

/// `ack-answer`: the receiver's answer to an acknowledgement poll, as the
/// gateway reads it, then fed to the lamps' board. Whatever is accepted is
/// within the wire's limits, and no answer makes a lamp's state or level trap.
enum AcknowledgementHarness {
    static func run(_ data: [UInt8]) {
        guard let answer = AcknowledgementAnswer.parse(data) else { return }
        precondition(answer.inputs.count <= 1_024, "\(answer.inputs.count) inputs accepted")
        precondition(answer.inputs.keys.allSatisfy(WireLimits.isIdentifier), "an input name outside the wire's limits accepted")
        precondition(WireLimits.counter.contains(answer.receivedThrough), "received_through \(answer.receivedThrough) accepted")
        var board = AcknowledgementBoard()
        board.alarmAccepted(input: "btn", sequence: 1 << 53)
        board.heard(answer)
        for input in Array(answer.inputs.keys) + ["btn"] {
            let state = board.state(of: input)
            _ = AcknowledgementBoard.lit(state, at: MonotonicInstant(nanoseconds: answer.receivedThrough))
        }
        precondition(board.state(of: "btn") != .off || answer.receivedThrough >= 1 << 53 || answer.inputs["btn"] != nil,
                     "a committed alarm the receiver has not stored went dark")
    }
}
