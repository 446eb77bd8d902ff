// dc09-send: sends alerts to one DC-09 destination through the real outbox
// and the DC-09 delivery service, then exits; for interoperability tests against real
// receivers (Tests/integration/test_dc09_pysiaalarm.py) and for a
// technician checking a receiving centre's settings by hand.
import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDC09
import PanicDelivery
import PanicOutbox
#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: dc09-send --config FILE --state-dir DIR [options] [EVENT...]

    Reads one DC-09 destination (the keys of one [[uplinks]] table with
    type = "dc09", name included, written at the top level of FILE), puts
    EVENTs into the outbox in DIR (with what is still pending there from
    earlier runs), delivers them, and prints one JSON line per frame the
    receiver acknowledged.

    EVENT: panic duress tamper trouble test, restore-panic restore-duress
           restore-tamper restore-trouble restore-test
    options:
      --zone N             zone of the events (default 501)
      --area N             area of the events (default 1)
      --supervisions N     also wait for N acknowledged supervision messages
      --wait-primary       also wait until frames go to the primary again and
                           the communications restore was acknowledged
      --run-for S          run at least S seconds
      --timeout S          give up after S seconds (default 30); exit 3
      --clock-skew-s S     run the gateway's wall clock S seconds off
      --log-level LEVEL    trace, debug, info (default), notice, warning, error
    exit status: 0 all delivered, 2 bad usage or configuration, 3 timed out
    """

struct Options {
    var config = ""
    var stateDir = ""
    var events: [String] = []
    var zone = 501
    var area = 1
    var supervisions = 0
    var waitPrimary = false
    var runFor = 0.0
    var timeout = 30.0
    var skew: Int64 = 0
    var logLevel = Logger.Level.info
}

func fail(_ message: String, status: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(status)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func value(_ name: String) -> String {
        guard let v = args.popFirst() else { fail("\(name) needs a value\n\n\(usage)") }
        return v
    }
    func number(_ name: String) -> Double {
        let v = value(name)
        guard let n = Double(v) else { fail("\(name): \"\(v)\" is not a number") }
        return n
    }
    while let a = args.popFirst() {
        switch a {
        case "--config": o.config = value(a)
        case "--state-dir": o.stateDir = value(a)
        case "--zone": o.zone = Int(number(a))
        case "--area": o.area = Int(number(a))
        case "--supervisions": o.supervisions = Int(number(a))
        case "--wait-primary": o.waitPrimary = true
        case "--run-for": o.runFor = number(a)
        case "--timeout": o.timeout = number(a)
        case "--clock-skew-s": o.skew = Int64(number(a))
        case "--log-level":
            let v = value(a)
            guard let l = Logger.Level(rawValue: v) else { fail("--log-level: \"\(v)\" is not a level") }
            o.logLevel = l
        case "-h", "--help": print(usage); exit(0)
        case let e where !e.hasPrefix("-"): o.events.append(e)
        default: fail("unknown option \(a)\n\n\(usage)")
        }
    }
    if o.config.isEmpty || o.stateDir.isEmpty { fail("--config and --state-dir are required\n\n\(usage)") }
    return o
}

/// The system clocks, the wall clock shifted by `skew`.
struct SkewedClock: GatewayClock {
    var skew: Int64
    func monotonicNow() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .init(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    func wallNow() -> WallTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return .init(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec) + skew * 1_000_000_000)
    }
}

func draft(_ event: String, zone: Int, area: Int, at: WallTime) -> AlertDraft {
    var kind: AlertKind
    var restores: AlertKind?
    let name = event.hasPrefix("restore-") ? String(event.dropFirst("restore-".count)) : event
    guard let k = AlertKind(rawValue: name), k != .restore, k != .heartbeat else {
        fail("unknown event \"\(event)\"\n\n\(usage)")
    }
    kind = k
    if event.hasPrefix("restore-") {
        restores = k
        if k != .test { kind = .restore }
    }
    return AlertDraft(kind: kind, restores: restores, input: "dc09-send", zone: zone, area: area, occurredAt: at,
                      clockSynchronized: true, test: k == .test, detail: "dc09-send \(event)")
}

final class Acks: @unchecked Sendable {
    private let list = Locked<[DC09Acknowledgement]>([])
    func add(_ a: DC09Acknowledgement) { list.mutate { $0.append(a) } }
    var all: [DC09Acknowledgement] { list.value }
}

func json(_ a: DC09Acknowledgement, kinds: [Int64: String]) -> String {
    let common = "\"dc09_sequence\":\(a.number),\"receiver\":\"\(a.receiver.rawValue)\",\"at\":\"\(a.at.rfc3339)\""
    switch a.what {
    case .alert(let seq, let id):
        return "{\"what\":\"alert\",\"alert_sequence\":\(seq),\"alert_id\":\"\(id)\",\"event\":\"\(kinds[seq] ?? "")\",\(common)}"
    case .supervision:
        return "{\"what\":\"supervision\",\(common)}"
    case .communicationsTrouble(let restored):
        return "{\"what\":\"communications-\(restored ? "restore" : "trouble")\",\(common)}"
    }
}

let options = parseOptions()
guard let text = try? String(contentsOfFile: options.config, encoding: .utf8) else { fail("cannot read \(options.config): check that it exists and is readable") }
let config: DC09Config
do {
    config = try DC09Config.parse(toml: text, file: options.config)
} catch {
    fail(error.description)
}
LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = options.logLevel
    return h
}
let logger = Logger(label: "dc09-send")
let clock = SkewedClock(skew: options.skew)
do {
    try FileManager.default.createDirectory(atPath: options.stateDir, withIntermediateDirectories: true)
} catch {
    fail("cannot create \(options.stateDir): \(error)")
}
let outbox: Outbox
do {
    outbox = try Outbox(path: options.stateDir + "/outbox.db", destinations: [config.name])
} catch {
    fail(error.description)
}
var kinds: [Int64: String] = [:]
do {
    let now = clock.wallNow()
    let accepted = try outbox.accept(options.events.map { draft($0, zone: options.zone, area: options.area, at: now) }, gatewayID: "dc09-send", site: "dc09-send", at: now)
    for (a, e) in zip(accepted, options.events) { kinds[a.sequence] = e }
} catch {
    fail(error.description)
}
let acks = Acks()
let eventNames = kinds
let service: DeliveryService
do {
    service = try DeliveryService.dc09(config: config, outbox: outbox, clock: clock, logger: logger, stateDirectory: options.stateDir, onAcknowledged: { a in
        acks.add(a)
        FileHandle.standardOutput.write(Data((json(a, kinds: eventNames) + "\n").utf8))
    })
} catch {
    fail("\(error)")
}

let task = Task { try await service.run() }
let started = Date()
var done = false
while !done {
    try? await Task.sleep(for: .milliseconds(20))
    let elapsed = Date().timeIntervalSince(started)
    let pending = (try? outbox.pending(destination: config.name).count) ?? 1
    let supervised = acks.all.filter { $0.what == .supervision }.count
    let status = service.status
    let primaryOK = !options.waitPrimary || (status.activePath == .primary && !status.communicationsTrouble
        && acks.all.contains { $0.what == .communicationsTrouble(restored: true) })
    if pending == 0, supervised >= options.supervisions, primaryOK, elapsed >= options.runFor { done = true; break }
    if elapsed >= options.timeout {
        task.cancel()
        _ = try? await task.value
        fail("timed out after \(options.timeout) s: \(pending) alert(s) pending, \(supervised) supervision(s) acknowledged; last error: \(status.lastError ?? "none"); refusal: \(status.refusal ?? "none")", status: 3)
    }
}
task.cancel()
_ = try? await task.value
