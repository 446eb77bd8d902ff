import Logging
import PanicCore
import PanicSigning
import ServiceLifecycle

/// The keys this receiver trusts: those of the TOML file and those of the
/// gateways registered in the database (enabled ones only), merged. Every
/// replica reloads the registry when it changes, so all trust the same keys.
public final class KeyDirectory: Sendable {
    private struct Snapshot {
        var version: Int64 = -1
        var loaded: Bool
        var keys: [String: TrustedKey]
        var disabled: Set<String> = []
    }
    private let configured: [String: TrustedKey]
    private let snapshot: Locked<Snapshot>

    /// `registryLoaded`: true where there is no registry to wait for (a
    /// directory of the file's keys only, as tests and tools make one).
    public init(configured: [TrustedKey], registryLoaded: Bool = false) {
        var byID: [String: TrustedKey] = [:]
        for k in configured { byID[k.key.keyID] = k }
        self.configured = byID
        snapshot = Locked(Snapshot(loaded: registryLoaded, keys: byID))
    }

    /// The trusted keys by keyid.
    public var keys: [String: TrustedKey] { snapshot.value.keys }

    /// Gateways registered but disabled: their requests are refused.
    public func isDisabled(_ gatewayID: String) -> Bool { snapshot.value.disabled.contains(gatewayID) }

    /// Whether the registry was loaded once (before, only the file's keys are known).
    public var isLoaded: Bool { snapshot.value.loaded }

    /// The registry version last loaded (-1 before the first load).
    public var version: Int64 { snapshot.value.version }

    /// Loads the registry if its version changed; returns whether it did.
    /// A registered key that is also in the TOML file under another gateway
    /// is ignored with a warning (the file wins: it is what the operator of
    /// a single site edits).
    @discardableResult
    public func refresh(from store: any ReceiverStore, logger: Logger, force: Bool = false) async throws -> Bool {
        let version = try await store.registryVersion()
        guard force || version != self.version else { return false }
        let gateways = try await store.registeredGateways()
        var keys = configured
        var disabled: Set<String> = []
        for g in gateways {
            guard g.enabled else { disabled.insert(g.id); continue }
            for (keyID, base64) in g.keys {
                guard let key = try? PublicKey(base64: base64) else { continue }
                if let existing = keys[keyID], existing.gatewayID != g.id {
                    logger.warning("registered key ignored: the configuration file gives it to another gateway", metadata: [
                        "key.id": "\(keyID)", "gateway.id": "\(g.id)", "file.gateway": "\(existing.gatewayID)",
                    ])
                    continue
                }
                keys[keyID] = TrustedKey(gatewayID: g.id, key: key)
            }
        }
        // A gateway disabled in the registry is refused even if the file lists it.
        keys = keys.filter { !disabled.contains($0.value.gatewayID) }
        snapshot.value = Snapshot(version: version, loaded: true, keys: keys, disabled: disabled)
        logger.info("gateway registry loaded", metadata: ["registry.version": "\(version)", "keys": "\(keys.count)", "disabled": "\(disabled.count)"])
        return true
    }
}

/// Keeps a `KeyDirectory` current: wakes on the database's notifications
/// (PostgreSQL's LISTEN), and polls the registry's version every
/// `pollInterval` all the same — the table is the truth, a notification
/// lost while a connection was down must not leave a replica behind.
struct RegistryWatcher: Service {
    let store: any ReceiverStore
    let directory: KeyDirectory
    let pollInterval: Duration
    let logger: Logger

    func run() async throws {
        let wakeup = Wakeup()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await store.watchRegistry { wakeup.signal() } }
                while !Task.isCancelled {
                    do { try await directory.refresh(from: store, logger: logger) }
                    catch { logger.warning("cannot reload the gateway registry; keeping the keys loaded before", metadata: ["error": "\(error)"]) }
                    _ = await wakeup.wait(timeout: pollInterval)
                }
                group.cancelAll()
            }
        }
    }
}
