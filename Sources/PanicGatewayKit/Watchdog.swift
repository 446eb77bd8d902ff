#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import PanicInputs
import ServiceLifecycle

/// What the watchdog needs from the loop it vouches for; `InputLoop`
/// conforms (`poke()` signals the eventfd its `epoll_wait` watches). Tests
/// drive the watchdog with a fake.
public protocol LoopLiveness: Sendable {
    /// Turns the loop has completed so far.
    var iterations: UInt64 { get }
    /// Asks the loop for one more turn even when no input is ready (for
    /// `InputLoop`: signal the eventfd its `epoll_wait` watches). Must not block.
    func poke()
}

extension InputLoop: LoopLiveness {}

/// The watchdog settings systemd hands the main process.
public struct WatchdogSettings: Equatable, Sendable {
    /// `WATCHDOG_USEC`: systemd restarts the service when no `WATCHDOG=1`
    /// arrives for this long.
    public var timeout: Duration

    public init(timeout: Duration) { self.timeout = timeout }

    /// How often the loop is checked and, when it turned, systemd pinged:
    /// half the timeout, as sd_watchdog_enabled(3) advises.
    public var checkInterval: Duration { timeout / 2 }

    /// Reads `WATCHDOG_USEC` and `WATCHDOG_PID` (when set, it must be this
    /// process); nil when systemd asked for no watchdog here.
    public static func from(environment: [String: String], pid: Int32 = getpid()) -> WatchdogSettings? {
        guard let raw = environment["WATCHDOG_USEC"], let usec = UInt64(raw), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid { return nil }
        return .init(timeout: .microseconds(Int64(clamping: usec)))
    }
}

/// Feeds systemd's watchdog only while the input loop really turns.
///
/// The loop blocks in `epoll_wait` without a timeout, so an idle loop does
/// not turn by itself. Every ``WatchdogSettings/checkInterval`` the watchdog
/// compares the loop's `iterations` with the last check: if they moved, it
/// sends `WATCHDOG=1`; if not, it withholds the ping and logs once. Then it
/// pokes the loop, so an idle but healthy loop turns once before the next
/// check. A loop stuck in a read, a callback or a lock never counts that turn,
/// the pings stop, and systemd restarts the daemon `WatchdogSec=` after the
/// last one.
///
/// Put it last in the ServiceGroup: it is then the first to hear of a
/// graceful shutdown, and announces it with `STOPPING=1`.
public struct Watchdog: Service {
    let settings: WatchdogSettings?
    let loop: any LoopLiveness
    let notifier: SystemdNotifier
    let logger: Logger
    let announceStopping: Bool

    /// - Parameter settings: nil (no watchdog requested) makes the service
    ///   idle until shutdown; it never ends the group early.
    public init(settings: WatchdogSettings?, loop: any LoopLiveness, notifier: SystemdNotifier, logger: Logger, announceStopping: Bool = true) {
        self.settings = settings
        self.loop = loop
        self.notifier = notifier
        self.logger = logger
        self.announceStopping = announceStopping
    }

    public func run() async throws {
        if let settings {
            logger.info("watchdog: pinging systemd while the input loop turns", metadata: [
                "watchdog.timeout_ms": "\(settings.timeout.milliseconds)", "watchdog.check_ms": "\(settings.checkInterval.milliseconds)",
            ])
            let loop = self.loop, notifier = self.notifier, logger = self.logger
            await cancelWhenGracefulShutdown {
                var machine = WatchdogStateMachine(iterations: loop.iterations)
                loop.poke()
                while true {
                    do { try await Task.sleep(for: settings.checkInterval) } catch { return }
                    switch machine.check(iterations: loop.iterations) {
                    case .ping:
                        notifier.watchdog()
                    case .pingAfterStall(let checks):
                        notifier.watchdog()
                        logger.notice("watchdog: input loop turns again; pinging", metadata: ["watchdog.missed_checks": "\(checks)"])
                    case .withhold(let checks):
                        if checks == 1 {
                            logger.critical("watchdog: input loop did not turn since the last check; withholding pings, systemd will restart the daemon",
                                            metadata: ["loop.iterations": "\(machine.lastSeen)"])
                        }
                    }
                    loop.poke()
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        if announceStopping { notifier.stopping(status: "stopping") }
    }
}

/// The watchdog's decision at each check, without clocks or sockets.
public struct WatchdogStateMachine: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// The loop turned: ping.
        case ping
        /// The loop turns again after this many checks without: ping.
        case pingAfterStall(missedChecks: Int)
        /// No turn since the last check (this is the n-th such check): no ping.
        case withhold(consecutive: Int)
    }

    /// Iterations seen at the last check.
    public private(set) var lastSeen: UInt64
    /// Consecutive checks without a turn.
    public private(set) var missed = 0

    public init(iterations: UInt64) { lastSeen = iterations }

    public mutating func check(iterations: UInt64) -> Action {
        defer { lastSeen = iterations }
        if iterations != lastSeen {
            let stalled = missed
            missed = 0
            return stalled > 0 ? .pingAfterStall(missedChecks: stalled) : .ping
        }
        missed += 1
        return .withhold(consecutive: missed)
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
