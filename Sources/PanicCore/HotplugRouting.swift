/// Routes hotplug events to the configured serial devices they concern. Pure.
public enum HotplugRouting {
    public enum Action: Equatable, Sendable {
        case appeared(device: Int, devnode: String)
        case disappeared(device: Int, devnode: String)
    }

    /// - Parameters:
    ///   - known: devnode → identity of what was seen added (a removed
    ///     device's parents are gone, so identity is remembered from its add).
    public static func route(action: String, info: SerialDeviceInfo, matches: [SerialMatch], known: inout [String: SerialDeviceInfo]) -> [Action] {
        switch action {
        case "add", "bind", "change":
            known[info.devnode] = info
            return matches.enumerated().compactMap { $0.element.isHotplug && $0.element.matches(info) ? .appeared(device: $0.offset, devnode: info.devnode) : nil }
        case "remove", "unbind":
            let identity = known.removeValue(forKey: info.devnode) ?? info
            return matches.enumerated().compactMap { $0.element.isHotplug && $0.element.matches(identity) ? .disappeared(device: $0.offset, devnode: info.devnode) : nil }
        default:
            return []
        }
    }
}

