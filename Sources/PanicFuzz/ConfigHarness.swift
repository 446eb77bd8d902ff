import PanicConfig

/// `gateway-config` and `receiver-config`: TOML text through the loaders'
/// parse functions (the same entry the daemon and `check-config` use). Only
/// `parse(_:file:)` is called, so the harness survives the TOML library
/// under it being replaced.
enum ConfigHarness {
    static func gateway(_ data: [UInt8]) {
        guard let text = String(validating: data, as: UTF8.self) else { return }  // load() refuses non-UTF-8
        do {
            let config = try GatewayConfig.parse(text, file: "fuzz.toml")
            _ = config
        } catch {
            require(!error.errors.isEmpty, "a refused configuration with no error")
            for e in error.errors { _ = e.description }
        }
    }

    static func receiver(_ data: [UInt8]) {
        guard let text = String(validating: data, as: UTF8.self) else { return }
        do {
            let config = try ReceiverConfig.parse(text, file: "fuzz.toml")
            require(!config.gateways.isEmpty, "a receiver configuration without gateways was accepted")
        } catch {
            require(!error.errors.isEmpty, "a refused configuration with no error")
            for e in error.errors { _ = e.description }
        }
    }
}
