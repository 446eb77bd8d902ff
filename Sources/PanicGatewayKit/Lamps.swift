import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicPlatform
import ServiceLifecycle

/// Where a lamp's level goes.
public protocol LampOutput: Sendable {
    func set(_ lit: Bool) throws
}

/// A lamp as a file holding "1" or "0" (rewritten whole at each change).
public struct FileLamp: LampOutput {
    public let path: String
    public init(path: String) { self.path = path }
    public func set(_ lit: Bool) throws {
        try Data((lit ? "1\n" : "0\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// A lamp on a GPIO output line.
public struct GPIOLamp: LampOutput {
    let line: any GPIOOutputHandle
    public func set(_ lit: Bool) throws { try line.set(lit) }
}

/// The lamps at the buttons: what each shows follows the acknowledgement
/// board (this gateway's accepted alarms and the receiver's answers). One
/// service drives every lamp; it wakes on a change and at each blink edge,
/// and writes an output only when its level changes.
public final class Lamps: Service, Sendable {
    public let board = Locked(AcknowledgementBoard())
    let outputs: [(input: String, output: any LampOutput)]
    let wake = Wakeup()
    let clock: any GatewayClock
    let logger: Logger
    /// Each lamp's last written level (for status and tests).
    let shown = Locked<[String: Bool]>([:])

    public init(outputs: [(input: String, output: any LampOutput)], clock: any GatewayClock, logger: Logger) {
        self.outputs = outputs
        self.clock = clock
        self.logger = logger
    }

    /// The inputs' lamps from the configuration.
    public static func open(_ config: GatewayConfig, backend: any GPIOBackend, clock: any GatewayClock, logger: Logger) throws -> Lamps {
        var outputs: [(input: String, output: any LampOutput)] = []
        for i in config.inputs {
            switch i.lamp {
            case nil: continue
            case .file(let path)?:
                let lamp = FileLamp(path: path)
                try lamp.set(false)
                outputs.append((i.spec.name, lamp))
            case .gpio(let chip, let line, let activeLow)?:
                let handle = try backend.requestOutput(GPIOLineRequest(chip: chip, line: line, activeLow: activeLow, consumer: "panic-gateway lamp"), initial: false)
                outputs.append((i.spec.name, GPIOLamp(line: handle)))
            }
        }
        return Lamps(outputs: outputs, clock: clock, logger: logger)
    }

    public var isEmpty: Bool { outputs.isEmpty }

    /// Alarms committed to the outbox: their lamps blink at once.
    public func accepted(_ alerts: [Alert]) {
        guard !outputs.isEmpty else { return }
        let alarms = alerts.filter { $0.kind.isAlarm && $0.input != nil }
        guard !alarms.isEmpty else { return }
        board.mutate { b in for a in alarms { b.alarmAccepted(input: a.input!, sequence: a.sequence) } }
        wake.signal()
    }

    /// The board changed (an answer from the receiver).
    public func changed() { wake.signal() }

    /// What each lamp shows now, by input (every configured input with a lamp).
    public func states() -> [String: LampState] {
        let b = board.value
        return Dictionary(outputs.map { ($0.input, b.state(of: $0.input)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Each lamp's last written level.
    public func levels() -> [String: Bool] { shown.value }

    /// Writes every lamp whose level changed; returns how long until the
    /// next blink edge (nil: nothing blinks).
    @discardableResult
    public func refresh() -> Duration? {
        let b = board.value
        let now = clock.monotonicNow()
        var blinking = false
        for (input, output) in outputs {
            let state = b.state(of: input)
            if state == .blinking { blinking = true }
            let lit = AcknowledgementBoard.lit(state, at: now)
            guard shown.value[input] != lit else { continue }
            do {
                try output.set(lit)
                shown.mutate { $0[input] = lit }
            } catch {
                logger.error("cannot drive the lamp", metadata: ["input.name": "\(input)", "error": "\(error)"])
            }
        }
        guard blinking else { return nil }
        let half = AcknowledgementBoard.blinkHalfPeriod
        return .nanoseconds(half - ((now.nanoseconds % half) + half) % half + 1_000_000)
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let next = refresh()
            try? await cancelWhenGracefulShutdown { [wake] in await wake.wait(timeout: next ?? .seconds(5)) }
        }
        for (_, output) in outputs { try? output.set(false) }
    }
}
