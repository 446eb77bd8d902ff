import CUdev
import Foundation
import PanicCore

/// USB serial devices through libudev: enumeration and a hotplug monitor.
public final class UdevSerial {
    /// Which netlink source the monitor listens to.
    public enum Source: String, Sendable {
        /// After udevd ran its rules (nodes and symlinks exist).
        case udev
        /// Raw kernel uevents: works without udevd (containers, minimal systems).
        case kernel
    }

    /// A hotplug event.
    public struct Event: Sendable, Equatable {
        public var action: String
        /// `tty` or `gpio`.
        public var subsystem: String
        /// The kernel's name: `ttyUSB0`, `gpiochip0`.
        public var sysname: String
        public var device: SerialDeviceInfo
    }

    private let udev: OpaquePointer
    private var monitor: OpaquePointer?
    public private(set) var source: Source = .kernel

    public init() throws(SystemError) {
        guard let u = cpanic_udev_new() else { throw SystemError(call: "udev_new", errno: errno) }
        udev = u
    }

    deinit {
        if let monitor { cpanic_udev_monitor_free(monitor) }
        udev_unref(udev)
    }

    /// udevd is running here (its control socket exists).
    public static var udevdRunning: Bool { FileManager.default.fileExists(atPath: "/run/udev/control") }

    /// Starts listening; call before `enumerate()` so nothing falls between.
    /// Prefers the `udev` source; without udevd, the `kernel` one.
    public func startMonitor() throws(SystemError) -> Int32 {
        source = Self.udevdRunning ? .udev : .kernel
        guard let m = cpanic_udev_monitor(udev, source.rawValue) else {
            throw SystemError(call: "udev_monitor_new_from_netlink(\(source.rawValue))", errno: errno)
        }
        monitor = m
        return cpanic_udev_monitor_fd(m)
    }

    /// Pending hotplug events (non-blocking).
    public func receive(limit: Int = 32) -> [Event] {
        guard let monitor else { return [] }
        var out: [Event] = []
        var info = cpanic_tty_info()
        while out.count < limit, cpanic_udev_monitor_receive(monitor, &info) == 1 {
            out.append(Event(action: Self.string(&info.action), subsystem: Self.string(&info.subsystem),
                             sysname: Self.string(&info.sysname), device: Self.device(&info)))
        }
        return out
    }

    /// USB serial ttys present now.
    public func enumerate() -> [SerialDeviceInfo] {
        var infos = [cpanic_tty_info](repeating: cpanic_tty_info(), count: 64)
        let n = cpanic_udev_enumerate_tty(udev, &infos, 64)
        guard n > 0 else { return [] }
        return (0..<Int(n)).map { Self.device(&infos[$0]) }
    }

    static func device(_ i: inout cpanic_tty_info) -> SerialDeviceInfo {
        let devnode = string(&i.devnode)
        return SerialDeviceInfo(
            devnode: devnode, syspath: string(&i.syspath), vendorID: string(&i.vendor), productID: string(&i.product),
            serial: string(&i.serial), interface: string(&i.interface), portPath: string(&i.port_path),
            manufacturer: string(&i.manufacturer), product: string(&i.product_name), driver: string(&i.driver),
            byID: byIDLinks(to: devnode))
    }

    static func string<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// `/dev/serial/by-id` links resolving to `devnode` (made by udevd's rules).
    public static func byIDLinks(to devnode: String, directory: String = "/dev/serial/by-id") -> [String] {
        guard !devnode.isEmpty, let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        let target = URL(fileURLWithPath: devnode).resolvingSymlinksInPath().path
        return names.sorted().map { "\(directory)/\($0)" }.filter {
            URL(fileURLWithPath: $0).resolvingSymlinksInPath().path == target
        }
    }
}
