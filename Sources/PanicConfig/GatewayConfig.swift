import PanicCore

/// The gateway's whole configuration, validated.
public struct GatewayConfig: Sendable {
    public static let defaultPath = "/etc/panic-gateway/gateway.toml"

    public var gatewayID: String
    public var site: String
    public var stateDirectory: String
    public var keyFile: String
    /// Most undelivered telemetry kept per destination.
    public var maximumTelemetry: Int
    public var inputs: [InputConfig]
    public var uplinks: [UplinkConfig]

    /// `state_dir/outbox.db`.
    public var outboxPath: String { stateDirectory + "/outbox.db" }
}

/// One input: what it means and where its edges come from.
public struct InputConfig: Sendable, Equatable {
    public var spec: InputSpec
    public var source: SourceConfig
}

/// Where an input's edges come from.
public enum SourceConfig: Sendable, Equatable {
    /// Edges written as text lines to a FIFO (see `PipeEdgeSource`); for the
    /// demo, tests and bench work without hardware.
    case simulated(fifo: String)
    /// A GPIO line through libgpiod.
    case gpio(GPIOSourceConfig)

    public static let allowedTypes = ["gpio", "simulated"]
}

/// A GPIO line: chip by name, label or path; line by offset or name.
public struct GPIOSourceConfig: Sendable, Equatable {
    public var chip: String
    public var line: GPIOLineSelector
    public var bias: GPIOBias
    public var activeLow: Bool

    public init(chip: String, line: GPIOLineSelector, bias: GPIOBias = .asIs, activeLow: Bool = false) {
        self.chip = chip
        self.line = line
        self.bias = bias
        self.activeLow = activeLow
    }
}

/// One HTTPS destination.
public struct UplinkConfig: Sendable, Equatable {
    public var name: String
    /// Base URL; alerts go to `/v1/alerts`, heartbeats to `/v1/heartbeats` under it.
    public var url: String
    public var caFile: String?
    public var clientCertificate: String?
    public var clientKey: String?
    public var connectTimeoutMilliseconds: Int
    public var requestTimeoutMilliseconds: Int
    public var heartbeatIntervalSeconds: Int
    public var backoff: Backoff
}
