import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicInputs
import PanicPlatform
import ServiceLifecycle
import UnixSignals

/// What a reload did.
public enum ReloadOutcome: Equatable, Sendable {
    case unchanged
    /// Inputs applied live; `restartNeeded` lists settings that only a
    /// restart applies (they are not changed until then).
    case applied(restartNeeded: [String])
    case refused(String)
}

extension Gateway {
    /// Re-reads the configuration file. An invalid file is refused, logged
    /// and reported as a trouble alert, and the running configuration stays.
    /// Input changes apply at once; unchanged inputs keep their descriptors
    /// and debounce state. Other changes wait for a restart (and say so).
    @discardableResult
    public func reload(from path: String) -> ReloadOutcome {
        let new: GatewayConfig
        do {
            new = try GatewayConfig.load(path: path)
        } catch {
            let reason = "configuration reload refused; the running configuration stays in force:\n\(error)"
            logger.error("\(reason)")
            writer.submit(.draft(AlertRules.trouble(
                input: nil, cause: "configuration reload refused: \(error.errors.first.map(\.description) ?? "\(error)")",
                cleared: false, occurredAt: reloadContext.clock.wallNow(), clockSynchronized: ClockDiscipline.current().synchronized)))
            return .refused(error.description)
        }
        let (current, previousSources) = wiring.value
        var restart: [String] = []
        if new.gatewayID != current.gatewayID { restart.append("gateway_id") }
        if new.site != current.site { restart.append("site") }
        if new.stateDirectory != current.stateDirectory { restart.append("state_dir") }
        if new.keyFile != current.keyFile { restart.append("key_file") }
        if new.uplinks != current.uplinks { restart.append("uplinks") }
        if new.dc09Uplinks != current.dc09Uplinks { restart.append("uplinks (dc09)") }
        if new.metricsListen?.host != current.metricsListen?.host || new.metricsListen?.port != current.metricsListen?.port { restart.append("metrics") }
        if new.controlSocket != current.controlSocket || new.controlGroup != current.controlGroup { restart.append("control_socket") }
        if new.maximumTelemetry != current.maximumTelemetry || new.keepDeliveredDays != current.keepDeliveredDays
            || new.keepDeliveredRows != current.keepDeliveredRows { restart.append("outbox") }
        let inputsChanged = new.inputs != current.inputs || new.serialDevices != current.serialDevices
        if !inputsChanged && restart.isEmpty {
            logger.notice("configuration reloaded: unchanged")
            return .unchanged
        }
        if inputsChanged {
            // All or nothing: the devices are wired against the indices the
            // table would give, and the table changes only once that worked.
            let specs = new.inputs.map(\.spec)
            let indices = loop.table.plan(specs)
            var applied = current
            applied.inputs = new.inputs
            applied.serialDevices = new.serialDevices
            let built: InputWiring.Built
            do {
                built = try InputWiring.devices(
                    config: applied, indices: indices, overrides: reloadContext.overrides, previous: previousSources,
                    gpioBackend: reloadContext.gpioBackend, clock: reloadContext.clock, logger: logger)
            } catch {
                logger.error("reload refused: the new inputs could not be set up; the running inputs stay as they were", metadata: ["error": "\(error)"])
                return .refused("\(error)")
            }
            if loop.table.apply(specs) != indices {
                logger.critical("input table: plan and apply disagree; restart the daemon to be safe")
            }
            loop.reconfigure(devices: built.devices)
            wiring.value = (applied, built.sources)
            let kept = built.sources.keys.filter { previousSources[$0] != nil }.count
            logger.notice("configuration reloaded: inputs applied", metadata: [
                "inputs": "\(new.inputs.count)", "sources.kept": "\(kept)", "sources.new": "\(built.sources.count - kept)",
            ])
        }
        if !restart.isEmpty {
            logger.warning("configuration changes that need a restart were not applied", metadata: ["keys": "\(restart.joined(separator: ", "))"])
        }
        return .applied(restartNeeded: restart)
    }
}

/// Reloads the configuration on SIGHUP (`systemctl reload`).
public struct ReloadOnHangup: Service {
    let gateway: Gateway
    let path: String
    let willReload: @Sendable () -> Void
    let onReload: @Sendable (ReloadOutcome) -> Void

    public init(gateway: Gateway, path: String, willReload: @escaping @Sendable () -> Void = {},
                onReload: @escaping @Sendable (ReloadOutcome) -> Void = { _ in }) {
        self.gateway = gateway
        self.path = path
        self.willReload = willReload
        self.onReload = onReload
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                willReload()
                // A reload opens devices and waits for the loop thread to
                // take them: on a thread of its own, not the cooperative pool's.
                let gateway = self.gateway, path = self.path
                onReload(await onOwnThread("reload") { gateway.reload(from: path) })
            }
        }
    }
}
