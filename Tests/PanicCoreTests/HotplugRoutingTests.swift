import Foundation
import PanicCore
import Testing

@Suite("Serial device identity")
struct SerialMatchTests {
    let ftdi = SerialDeviceInfo(devnode: "/dev/ttyUSB0", vendorID: "0403", productID: "6001", serial: "A10K5XYZ", interface: "00",
                                portPath: "1-1.2", byID: ["/dev/serial/by-id/usb-FTDI_FT232R_A10K5XYZ-if00-port0"])

    @Test("a device is matched by what it is, every given field counting")
    func matching() {
        #expect(SerialMatch(vendorID: "0403", productID: "6001").matches(ftdi))
        #expect(SerialMatch(vendorID: "0403", productID: "6001", serial: "A10K5XYZ", interface: 0).matches(ftdi))
        #expect(!SerialMatch(vendorID: "0403", productID: "6001", serial: "OTHER").matches(ftdi))
        #expect(!SerialMatch(vendorID: "0403", productID: "6001", interface: 1).matches(ftdi))
        #expect(SerialMatch(portPath: "1-1.2").matches(ftdi))
        #expect(SerialMatch(byID: "/dev/serial/by-id/usb-FTDI_FT232R_A10K5XYZ-if00-port0").matches(ftdi))
        #expect(SerialMatch(vendorID: "0403".uppercased(), productID: "6001").matches(ftdi))
        #expect(!SerialMatch().matches(ftdi), "an empty match matches nothing")
    }
}

@Suite("Hotplug routing")
struct HotplugRoutingTests {
    /// Recorded uevents: `ACTION DEVNODE VENDOR PRODUCT SERIAL INTERFACE PORT` ('-' for empty, as a removal carries).
    static func events() throws -> [(String, SerialDeviceInfo)] {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Sessions/uevents-replug.txt")
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let f = line.split(separator: " ").map { $0 == "-" ? "" : String($0) }
            return (f[0], SerialDeviceInfo(devnode: f[1], vendorID: f[2], productID: f[3], serial: f[4], interface: f[5], portPath: f[6]))
        }
    }

    @Test("recorded add/remove/add of two adapters reach the right configured devices, removals by remembered identity")
    func replug() throws {
        let matches = [
            SerialMatch(vendorID: "0403", productID: "6001", serial: "BUTTONS1"),
            SerialMatch(vendorID: "1a86", productID: "7523"),
            SerialMatch(path: "/dev/ttyS0"),
        ]
        var known: [String: SerialDeviceInfo] = [:]
        var actions: [HotplugRouting.Action] = []
        for (action, info) in try Self.events() {
            actions += HotplugRouting.route(action: action, info: info, matches: matches, known: &known)
        }
        #expect(actions == [
            .appeared(device: 0, devnode: "/dev/ttyUSB0"),
            .appeared(device: 1, devnode: "/dev/ttyUSB1"),
            .disappeared(device: 0, devnode: "/dev/ttyUSB0"),
            .appeared(device: 0, devnode: "/dev/ttyUSB2"),
            .disappeared(device: 1, devnode: "/dev/ttyUSB1"),
        ])
    }
}
