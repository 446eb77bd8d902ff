import PanicCore
import PanicConfig

/// The `host:port` names this receiver answers for. A signature covers
/// `@target-uri`; a request signed for another receiver's authority is a
/// replay from elsewhere and is refused before its signature is checked.
public final class ReceiverAuthorities: Sendable {
    private let names = Locked<Set<String>>([])
    private let scheme: String

    /// `configured` as in `authorities`; when empty, the listen host and the
    /// loopback names on the bound port (set by `bound(port:)`).
    public init(configured: [String], scheme: String) {
        self.scheme = scheme
        let normal = configured.compactMap { Validate.authority($0, defaultPort: scheme == "https" ? 443 : 80) }
        names.mutate { $0 = Set(normal) }
        self.configured = !normal.isEmpty
    }

    private let configured: Bool

    /// Called once the listener is bound: with nothing configured, the names a
    /// local gateway may use for this receiver.
    public func bound(host: String, port: Int) {
        guard !configured else { return }
        let hosts = [host, "127.0.0.1", "localhost", "[::1]"].map { $0.contains(":") && !$0.hasPrefix("[") ? "[\($0)]" : $0 }
        names.mutate { s in for h in hosts { s.insert("\(h.lowercased()):\(port)") } }
    }

    /// Whether `targetURI`'s authority is one of ours.
    public func accepts(targetURI: String) -> Bool {
        guard let authority = Self.authority(of: targetURI),
              let normal = Validate.authority(authority, defaultPort: scheme == "https" ? 443 : 80) else { return false }
        return names.mutate { $0.contains(normal) }
    }

    public var all: [String] { names.mutate { $0.sorted() } }

    static func authority(of uri: String) -> String? {
        guard let sep = uri.range(of: "://") else { return nil }
        let rest = uri[sep.upperBound...]
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        return String(rest[..<end])
    }
}
