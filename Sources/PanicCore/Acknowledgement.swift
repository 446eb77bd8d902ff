/// What the control room has done with an input's alarm, as the receiver
/// tells the gateway: `open` (received, nobody has acknowledged it yet) or
/// `acknowledged`. An input it does not name has no open alarm.
public enum RemoteAlarmState: String, Codable, Sendable, CaseIterable {
    case open, acknowledged
}

/// The gateway's held-open question to the receiver (`POST
/// /v1/acknowledgements`, signed like every request, the nonce its id):
/// "answer when what you know differs from this, or after `wait_s`".
public struct AcknowledgementPoll: Codable, Sendable, Equatable {
    public var version: Int
    public var id: String
    public var gatewayID: String
    /// What the gateway last heard (empty at start).
    public var known: [String: RemoteAlarmState]
    public var knownReceivedThrough: Int64
    /// How long the receiver may hold the request, seconds (0…25).
    public var waitSeconds: Int

    public static let waitRange = 0...25

    public init(id: String, gatewayID: String, known: [String: RemoteAlarmState], knownReceivedThrough: Int64, waitSeconds: Int) {
        version = 1
        self.id = id
        self.gatewayID = gatewayID
        self.known = known
        self.knownReceivedThrough = knownReceivedThrough
        self.waitSeconds = waitSeconds
    }

    enum CodingKeys: String, CodingKey {
        case version, id, known
        case gatewayID = "gateway_id"
        case knownReceivedThrough = "known_received_through"
        case waitSeconds = "wait_s"
    }

    /// Why this decoded poll is not acceptable, or nil.
    public func wireProblem() -> String? {
        guard version == 1 else { return "version \(version) is not supported (this receiver speaks version 1)" }
        guard AlertIDGenerator.isValid(id) else { return "id must be a lower-case UUIDv7" }
        guard WireLimits.isIdentifier(gatewayID) else { return "gateway_id must be 1 to 64 of A-Z a-z 0-9 . _ -" }
        guard WireLimits.inputEntries.contains(known.count) else { return "at most 1024 known inputs" }
        guard known.keys.allSatisfy(WireLimits.isIdentifier) else { return "known input names must be 1 to 64 of A-Z a-z 0-9 . _ -" }
        guard WireLimits.counter.contains(knownReceivedThrough) else { return "known_received_through must be from 0 to \(WireLimits.counter.upperBound)" }
        guard Self.waitRange.contains(waitSeconds) else { return "wait_s must be from 0 to 25" }
        return nil
    }
}

/// The receiver's answer: the open alarms of the gateway's inputs and the
/// highest sequence number it has stored from the gateway.
public struct AcknowledgementAnswer: Codable, Sendable, Equatable {
    public var inputs: [String: RemoteAlarmState]
    public var receivedThrough: Int64

    public init(inputs: [String: RemoteAlarmState], receivedThrough: Int64) {
        self.inputs = inputs
        self.receivedThrough = receivedThrough
    }

    enum CodingKeys: String, CodingKey {
        case inputs
        case receivedThrough = "received_through"
    }

    /// Decodes an answer from the network, range-checked (whatever sits in
    /// front of the receiver must not be able to crash the gateway); nil
    /// when it is not one.
    public static func parse(_ bytes: [UInt8]) -> AcknowledgementAnswer? {
        guard bytes.count <= 256 * 1024, let a = try? WireFormat.decode(AcknowledgementAnswer.self, from: bytes) else { return nil }
        guard WireLimits.inputEntries.contains(a.inputs.count), a.inputs.keys.allSatisfy(WireLimits.isIdentifier),
              WireLimits.counter.contains(a.receivedThrough) else { return nil }
        return a
    }
}

/// What an input's lamp shows.
public enum LampState: String, Sendable, Codable, CaseIterable {
    /// No alarm of this input is open.
    case off
    /// Sent and waiting: accepted here or received there, nobody has acknowledged it.
    case blinking
    /// Acknowledged by the control room: help is coming.
    case steady
}

/// The gateway's picture of its inputs' alarms: what it accepted itself
/// and what the receiver last said. Pure; the lamp service asks it what
/// each lamp shows, at a monotonic time, for the blinking.
public struct AcknowledgementBoard: Sendable, Equatable {
    /// Per input, the highest sequence of an alarm accepted here.
    public private(set) var accepted: [String: Int64] = [:]
    public private(set) var remote: [String: RemoteAlarmState] = [:]
    /// The highest sequence the receiver has stored from this gateway.
    public private(set) var receivedThrough: Int64 = 0
    /// Whether the receiver has answered at all (until then, only local alarms blink).
    public private(set) var hasHeard = false

    /// Half a blink: 500 ms on, 500 ms off.
    public static let blinkHalfPeriod: Int64 = 500_000_000

    public init() {}

    /// An alarm of `input` was committed to the outbox with `sequence`.
    public mutating func alarmAccepted(input: String, sequence: Int64) {
        accepted[input] = max(accepted[input] ?? 0, sequence)
    }

    /// The receiver's answer.
    public mutating func heard(_ answer: AcknowledgementAnswer) {
        remote = answer.inputs
        receivedThrough = max(receivedThrough, answer.receivedThrough)
        hasHeard = true
        // An alarm the receiver has stored is now the receiver's to describe.
        accepted = accepted.filter { $0.value > receivedThrough }
    }

    public func state(of input: String) -> LampState {
        switch remote[input] {
        case .acknowledged: return .steady
        case .open: return .blinking
        case nil: return (accepted[input] ?? 0) > receivedThrough ? .blinking : .off
        }
    }

    /// Whether the lamp is lit at `now` (blinking: on in even half-periods).
    public static func lit(_ state: LampState, at now: MonotonicInstant) -> Bool {
        switch state {
        case .off: return false
        case .steady: return true
        case .blinking: return (now.nanoseconds / blinkHalfPeriod) % 2 == 0
        }
    }
}
