import PanicCore
import Testing

/// The lamp rules: what the gateway accepted and what the receiver said.
@Suite struct AcknowledgementBoardTests {
    let t = MonotonicInstant(nanoseconds: 10_000_000_000)

    @Test func anAcceptedAlarmBlinksUntilTheReceiverSaysWhatBecameOfIt() {
        var b = AcknowledgementBoard()
        #expect(b.state(of: "btn") == .off)
        b.alarmAccepted(input: "btn", sequence: 7)
        #expect(b.state(of: "btn") == .blinking, "sent and waiting, before any answer")
        b.heard(AcknowledgementAnswer(inputs: [:], receivedThrough: 6))
        #expect(b.state(of: "btn") == .blinking, "the receiver has not stored it yet")
        b.heard(AcknowledgementAnswer(inputs: ["btn": .open], receivedThrough: 7))
        #expect(b.state(of: "btn") == .blinking)
        b.heard(AcknowledgementAnswer(inputs: ["btn": .acknowledged], receivedThrough: 7))
        #expect(b.state(of: "btn") == .steady)
        b.heard(AcknowledgementAnswer(inputs: [:], receivedThrough: 7))
        #expect(b.state(of: "btn") == .off, "resolved")
        #expect(b.state(of: "other") == .off)
    }

    @Test func aPressAfterTheResolutionBlinksAgain() {
        var b = AcknowledgementBoard()
        b.heard(AcknowledgementAnswer(inputs: [:], receivedThrough: 9))
        b.alarmAccepted(input: "btn", sequence: 10)
        #expect(b.state(of: "btn") == .blinking)
        b.heard(AcknowledgementAnswer(inputs: ["btn": .acknowledged], receivedThrough: 10))
        #expect(b.state(of: "btn") == .steady)
    }

    @Test func blinkingIsHalfASecondOnHalfASecondOff() {
        let half = AcknowledgementBoard.blinkHalfPeriod
        #expect(AcknowledgementBoard.lit(.blinking, at: .init(nanoseconds: 0)))
        #expect(!AcknowledgementBoard.lit(.blinking, at: .init(nanoseconds: half)))
        #expect(AcknowledgementBoard.lit(.blinking, at: .init(nanoseconds: 2 * half + 1)))
        #expect(AcknowledgementBoard.lit(.steady, at: t) && !AcknowledgementBoard.lit(.off, at: t))
        // Any instant at all, without a trap (this test would crash).
        _ = AcknowledgementBoard.lit(.blinking, at: .init(nanoseconds: .min))
        _ = AcknowledgementBoard.lit(.blinking, at: .init(nanoseconds: .max))
    }

    @Test func hostileAnswersAreNotAnswers() {
        #expect(AcknowledgementAnswer.parse(Array(#"{"inputs":{"btn":"acknowledged"},"received_through":3}"#.utf8))
                == AcknowledgementAnswer(inputs: ["btn": .acknowledged], receivedThrough: 3))
        for bad in [
            #"{"inputs":{"btn":"lit"},"received_through":3}"#,
            #"{"inputs":{"b\u001b[2J":"open"},"received_through":3}"#,
            #"{"inputs":{},"received_through":-1}"#,
            #"{"inputs":{},"received_through":9223372036854775807}"#,
            #"{"inputs":{}}"#, "[]", "", "{",
        ] {
            #expect(AcknowledgementAnswer.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func pollsOutOfRangeAreRefused() {
        var p = AcknowledgementPoll(id: AlertIDGenerator().next(at: WallTime(secondsSinceEpoch: 1_796_000_000)), gatewayID: "gw-1",
                                    known: [:], knownReceivedThrough: 0, waitSeconds: 20)
        #expect(p.wireProblem() == nil)
        p.waitSeconds = 26
        #expect(p.wireProblem() == "wait_s must be from 0 to 25")
        p.waitSeconds = 0
        p.knownReceivedThrough = -5
        #expect(p.wireProblem() != nil)
    }
}
