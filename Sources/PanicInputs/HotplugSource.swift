import Logging
import PanicCore
import PanicPlatform

/// The libudev monitor in the input loop. Created before enumerating, so a
/// device plugged in between is not missed; prefers udevd's events and falls
/// back to the kernel's where udevd does not run (and says so).
public final class HotplugSource: InputSource {
    private let devices: [SerialDeviceSource]
    private let gpio: [GPIOSource]
    private let logger: Logger
    private var udev: UdevSerial?
    private var fd: Int32 = -1
    private var known: [String: SerialDeviceInfo] = [:]

    /// - Parameter gpio: GPIO inputs to tell when their chip goes or comes
    ///   (kernel 6.1 does not wake a blocked poll when a chip is removed).
    public init(devices: [SerialDeviceSource], gpio: [GPIOSource] = [], logger: Logger) {
        self.devices = devices
        self.gpio = gpio
        self.logger = logger
    }

    public var descriptor: Int32 { fd }

    public func start(emit: (SourceEvent) -> Void) {
        do {
            let u = try UdevSerial()
            fd = try u.startMonitor()
            udev = u
            if u.source == .kernel {
                logger.warning("udevd is not running (no /run/udev/control): following raw kernel uevents; /dev/serial/by-id links will be missing")
            }
            for info in u.enumerate() { route("add", info) }
        } catch {
            logger.critical("cannot follow USB hotplug; USB serial devices will not be found", metadata: ["error": "\(error)"])
        }
    }

    public func readReady(emit: (SourceEvent) -> Void) {
        guard let udev else { return }
        for event in udev.receive() {
            if event.subsystem == "gpio" {
                guard event.sysname.hasPrefix("gpiochip") else { continue }
                for g in gpio {
                    switch event.action {
                    case "remove": g.chipRemoved(node: event.sysname)
                    case "add", "bind": g.chipAppeared()
                    default: break
                    }
                }
            } else {
                route(event.action, event.device)
            }
        }
    }

    public func hangup(emit: (SourceEvent) -> Void) {}

    private func route(_ action: String, _ info: SerialDeviceInfo) {
        for a in HotplugRouting.route(action: action, info: info, matches: devices.map(\.match), known: &known) {
            switch a {
            case .appeared(let d, let node):
                logger.info("serial device appeared", metadata: ["device.name": "\(devices[d].name)", "device.path": "\(node)"])
                devices[d].appeared(at: node)
            case .disappeared(let d, let node):
                logger.warning("serial device removed", metadata: ["device.name": "\(devices[d].name)", "device.path": "\(node)"])
                devices[d].disappeared(at: node)
            }
        }
    }
}
