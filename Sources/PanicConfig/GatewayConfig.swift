import PanicCore

/// The gateway's whole configuration, validated.
public struct GatewayConfig: Sendable {
    public static let defaultPath = "/etc/panic-gateway/gateway.toml"
    public static let defaultControlSocket = "/run/panic-gateway/control.sock"

    public var gatewayID: String
    public var site: String
    public var stateDirectory: String
    public var keyFile: String
    /// The control socket `panicctl` talks to.
    public var controlSocket: String
    /// The group allowed to use the control socket (default: the daemon's own).
    public var controlGroup: String?
    /// Where Prometheus metrics are served (loopback only); nil: off.
    public var metricsListen: (host: String, port: Int)?
    /// Most undelivered telemetry kept per destination.
    public var maximumTelemetry: Int
    /// Delivered alerts are pruned from the outbox after this many days…
    public var keepDeliveredDays = 30
    /// …and beyond this many rows, newest kept. Undelivered ones never are.
    public var keepDeliveredRows = 10_000
    /// Bytes kept free for alarms beside the outbox (a file given up when the disk fills); 0: none.
    public var outboxReserveBytes = 8 << 20
    public var inputs: [InputConfig]
    public var serialDevices: [SerialDeviceConfig]
    /// HTTPS destinations (`type = "https"`, the default).
    public var uplinks: [UplinkConfig]
    /// SIA DC-09 destinations (`type = "dc09"`).
    public var dc09Uplinks: [DC09Config]

    /// Every destination's name, the outbox's delivery columns.
    public var destinationNames: [String] { uplinks.map(\.name) + dc09Uplinks.map(\.name) }

    /// `state_dir/outbox.db`.
    public var outboxPath: String { stateDirectory + "/outbox.db" }
}

/// One input: what it means and where its edges come from.
public struct InputConfig: Sendable, Equatable {
    public var spec: InputSpec
    public var source: SourceConfig
    /// The lamp at the button that shows what the control room did: off,
    /// blinking (sent, waiting), steady (acknowledged).
    public var lamp: LampConfig?

    public init(spec: InputSpec, source: SourceConfig, lamp: LampConfig? = nil) {
        self.spec = spec
        self.source = source
        self.lamp = lamp
    }
}

/// Where an input's lamp is driven.
public enum LampConfig: Sendable, Equatable {
    /// A GPIO line requested as an output through libgpiod.
    case gpio(chip: String, line: GPIOLineSelector, activeLow: Bool)
    /// A file rewritten with "1" or "0" and a newline at each change: for
    /// tests, the demo, and an indicator driven by another program.
    case file(path: String)

    public static let allowedTypes = ["file", "gpio"]
}

/// Where an input's edges come from.
public enum SourceConfig: Sendable, Equatable {
    /// Edges written as text lines to a FIFO (see `PipeEdgeSource`); for the
    /// demo, tests and bench work without hardware.
    case simulated(fifo: String)
    /// A GPIO line through libgpiod.
    case gpio(GPIOSourceConfig)
    /// One input of a declared `[[serial_devices]]` entry.
    case serial(device: String, address: SerialAddress)

    public static let allowedTypes = ["gpio", "serial", "simulated"]
}

/// Which input of a serial device: a button id (line protocol), a discrete
/// input of a Modbus slave, or a modem status line.
public enum SerialAddress: Sendable, Equatable, Hashable {
    case button(String)
    case modbus(slave: Int, input: Int)
    case modemLine(String)
}

/// A USB (or fixed-path) serial device and the protocol it speaks.
public struct SerialDeviceConfig: Sendable, Equatable {
    public enum Wire: Sendable, Equatable {
        case line(LineProtocolDriver.Patterns, heartbeatTimeout: Nanoseconds?)
        case modbus(pollInterval: Nanoseconds, responseTimeout: Nanoseconds, failAfter: Int)
        case modemStatus

        public var name: String {
            switch self {
            case .line: "line"
            case .modbus: "modbus"
            case .modemStatus: "modem-status"
            }
        }
    }

    public var name: String
    public var match: SerialMatch
    public var settings: SerialSettings
    public var wire: Wire
    public var absentGrace: Nanoseconds
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
    /// Other replicas of the same receiver (one database behind them all):
    /// tried in turn, for the same alert, when one does not answer or answers 5xx.
    public var fallbackURLs: [String] = []
    /// Most alerts one request may carry while a backlog drains
    /// (`POST /v1/alerts/batch`); 1 sends every alert alone.
    public var batchMaximumAlerts: Int = 100

    /// `url`, then the fallbacks.
    public var urls: [String] { [url] + fallbackURLs }
}
