import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicInputs
import PanicPlatform

/// Builds the input loop's devices from the configuration: one source per
/// GPIO line or simulated input, one per serial device (shared by all the
/// inputs on it), and the hotplug monitor when any device is found by identity.
///
/// On a reload, a source whose configuration is unchanged is taken over
/// from the running set (by its `SourceKey`), so its descriptor and state survive.
enum InputWiring {
    /// What made a source: the configuration it is kept for on a reload.
    enum SourceKey: Equatable {
        /// A GPIO line or a simulated input, by input name and source.
        case input(name: String, source: SourceConfig)
        /// A serial device, with the addresses of the inputs on it.
        case serial(SerialDeviceConfig, addresses: [SerialAddress])
    }

    /// The sources made, each with its key (a handful: looked up in order).
    struct Sources {
        private(set) var all: [(key: SourceKey, source: any InputSource)] = []
        subscript(key: SourceKey) -> (any InputSource)? {
            get { all.first { $0.key == key }?.source }
            set {
                all.removeAll { $0.key == key }
                if let newValue { all.append((key, newValue)) }
            }
        }
        var count: Int { all.count }
        var keys: [SourceKey] { all.map(\.key) }
    }

    struct Built {
        var devices: [InputLoop.Device]
        /// Sources by the configuration that made them, for the next reload.
        var sources: Sources
    }

    static func devices(
        config: GatewayConfig, indices: [Int], overrides: [String: any InputSource], previous: Sources = Sources(),
        gpioBackend: any GPIOBackend, clock: any GatewayClock, logger: Logger
    ) throws -> Built {
        var devices: [InputLoop.Device] = []
        var sources = Sources()
        var serialInputs: [String: [(index: Int, address: SerialAddress)]] = [:]
        for (position, input) in config.inputs.enumerated() {
            let i = indices[position]
            if let given = overrides[input.spec.name] {
                devices.append(.init(source: given, inputs: [i]))
                continue
            }
            let key = SourceKey.input(name: input.spec.name, source: input.source)
            if case .serial = input.source {} else if let old = previous[key] {
                devices.append(.init(source: old, inputs: [i]))
                sources[key] = old
                continue
            }
            switch input.source {
            case .simulated(let fifo):
                try FileManager.default.createDirectory(atPath: (fifo as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let source = PipeEdgeSource(name: input.spec.name, fd: try PipeEdgeSource.openFIFO(at: fifo), clock: clock, logger: logger)
                devices.append(.init(source: source, inputs: [i]))
                sources[key] = source
            case .gpio(let g):
                let source = GPIOSource(
                    name: input.spec.name,
                    request: GPIOLineRequest(chip: g.chip, line: g.line, bias: g.bias, activeLow: g.activeLow, consumer: "panic-gateway:\(input.spec.name)"),
                    backend: gpioBackend, clock: clock, logger: logger)
                devices.append(.init(source: source, inputs: [i]))
                sources[key] = source
            case .serial(let device, let address):
                serialInputs[device, default: []].append((i, address))
            }
        }
        var serialSources: [SerialDeviceSource] = []
        for device in config.serialDevices {
            guard let inputs = serialInputs[device.name], !inputs.isEmpty else {
                logger.warning("serial device has no inputs; not opened", metadata: ["device.name": "\(device.name)"])
                continue
            }
            let key = SourceKey.serial(device, addresses: inputs.map(\.address))
            if let old = previous[key] as? SerialDeviceSource {
                serialSources.append(old)
                devices.append(.init(source: old, inputs: inputs.map(\.index)))
                sources[key] = old
                continue
            }
            let wire: SerialDeviceSource.Wire
            switch device.wire {
            case .line(let patterns, let heartbeat):
                var ports: [String: Int] = [:]
                for (port, input) in inputs.enumerated() { if case .button(let id) = input.address { ports[id] = port } }
                wire = .driver(LineProtocolDriver(patterns: patterns, ports: ports, heartbeatTimeout: heartbeat))
            case .modbus(let poll, let timeout, let failAfter):
                let points = inputs.enumerated().compactMap { port, input -> ModbusDriver.Point? in
                    guard case .modbus(let slave, let address) = input.address else { return nil }
                    return .init(slave: UInt8(slave), address: UInt16(address), port: port)
                }
                wire = .driver(ModbusDriver(points: points, pollInterval: poll, responseTimeout: timeout, failAfter: failAfter))
            case .modemStatus:
                wire = .modemLines(inputs.compactMap { if case .modemLine(let l) = $0.address { ModemLine(rawValue: l) } else { nil } })
            }
            let source = SerialDeviceSource(
                name: device.name, match: device.match, settings: device.settings, protocol: wire, clock: clock, logger: logger,
                absentGrace: device.absentGrace)
            serialSources.append(source)
            devices.append(.init(source: source, inputs: inputs.map(\.index)))
            sources[key] = source
        }
        let hotplugged = serialSources.filter { $0.match.isHotplug }
        let gpioSources = devices.compactMap { $0.source as? GPIOSource }
        if !hotplugged.isEmpty || !gpioSources.isEmpty {
            devices.append(.init(source: HotplugSource(devices: hotplugged, gpio: gpioSources, logger: logger), inputs: []))
        }
        return Built(devices: devices, sources: sources)
    }
}
