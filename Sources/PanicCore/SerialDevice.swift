/// A USB serial device as the system describes it (sysfs via libudev).
public struct SerialDeviceInfo: Sendable, Equatable, Codable {
    public var devnode: String
    public var syspath: String
    /// Hex, lowercase, as sysfs has it (`0403`).
    public var vendorID: String
    public var productID: String
    public var serial: String
    /// `bInterfaceNumber`, as sysfs has it (`00`).
    public var interface: String
    /// The USB port path (`1-1.2`): stable for a given socket.
    public var portPath: String
    public var manufacturer: String
    public var product: String
    public var driver: String
    /// `/dev/serial/by-id/…` links that point at `devnode`.
    public var byID: [String]

    public init(devnode: String, syspath: String = "", vendorID: String = "", productID: String = "", serial: String = "", interface: String = "",
                portPath: String = "", manufacturer: String = "", product: String = "", driver: String = "", byID: [String] = []) {
        self.devnode = devnode
        self.syspath = syspath
        self.vendorID = vendorID
        self.productID = productID
        self.serial = serial
        self.interface = interface
        self.portPath = portPath
        self.manufacturer = manufacturer
        self.product = product
        self.driver = driver
        self.byID = byID
    }
}

/// How a configured device is recognised: by what it is, not by `ttyUSBn`.
/// Every field given must match; absent fields match anything.
public struct SerialMatch: Sendable, Equatable, CustomStringConvertible {
    public var vendorID: String?
    public var productID: String?
    public var serial: String?
    public var interface: Int?
    public var portPath: String?
    public var byID: String?
    /// A fixed device path (a non-USB port, or a pty in tests): no hotplug.
    public var path: String?

    public init(vendorID: String? = nil, productID: String? = nil, serial: String? = nil, interface: Int? = nil,
                portPath: String? = nil, byID: String? = nil, path: String? = nil) {
        self.vendorID = vendorID?.lowercased()
        self.productID = productID?.lowercased()
        self.serial = serial
        self.interface = interface
        self.portPath = portPath
        self.byID = byID
        self.path = path
    }

    /// Whether `info` is this device.
    public func matches(_ info: SerialDeviceInfo) -> Bool {
        if let path { return info.devnode == path }
        if let v = vendorID, v != info.vendorID.lowercased() { return false }
        if let p = productID, p != info.productID.lowercased() { return false }
        if let s = serial, s != info.serial { return false }
        if let i = interface, Int(info.interface, radix: 16) != i { return false }
        if let p = portPath, p != info.portPath { return false }
        if let b = byID, !info.byID.contains(b) { return false }
        return vendorID != nil || productID != nil || serial != nil || portPath != nil || byID != nil
    }

    /// Needs hotplug (anything but a fixed path).
    public var isHotplug: Bool { path == nil }

    public var description: String {
        if let path { return path }
        var parts: [String] = []
        if let v = vendorID, let p = productID { parts.append("\(v):\(p)") } else {
            if let v = vendorID { parts.append("vendor \(v)") }
            if let p = productID { parts.append("product \(p)") }
        }
        if let s = serial { parts.append("serial \(s)") }
        if let i = interface { parts.append("interface \(i)") }
        if let p = portPath { parts.append("port \(p)") }
        if let b = byID { parts.append(b) }
        return parts.joined(separator: " ")
    }
}

/// Line settings of a serial port.
public struct SerialSettings: Sendable, Equatable {
    public enum Parity: String, Sendable, CaseIterable { case none, even, odd }
    public var baud: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int

    public init(baud: Int = 9600, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1) {
        self.baud = baud
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
    }

    public static let supportedBauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600]
}
