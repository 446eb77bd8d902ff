import PanicCore

/// `control`: what a control-socket client sends — lines split at newlines
/// as the server does (at most 64 KiB each), each decoded by
/// `ControlRequest.decode`, then every argument the commands read taken the
/// way they take it: `timeout_s` and `limit` through `ControlArguments`,
/// `inputs` as names, `id` as an alert id prefix or a sequence number.
enum ControlHarness {
    static func run(_ data: [UInt8]) {
        var rest = data[...]
        while !rest.isEmpty {
            let line: ArraySlice<UInt8>
            if let nl = rest.firstIndex(of: 0x0A) {
                line = rest[..<nl]
                rest = rest[rest.index(after: nl)...]
            } else {
                line = rest
                rest = []
            }
            guard line.count <= 64 * 1024 else { continue }
            switch ControlRequest.decode(Array(line)) {
            case .failure(let e):
                require(!e.message.isEmpty, "an empty error message")
            case .success(let (_, args)):
                if let t = ControlArguments.seconds(args["timeout_s"], default: 30) {
                    require(t.isFinite && ControlArguments.secondsRange.contains(t), "a timeout outside its range passed: \(t)")
                    _ = Int(t)
                }
                if let n = ControlArguments.count(args["limit"], default: 50, range: 1...10_000) {
                    require((1...10_000).contains(n), "a limit outside its range passed: \(n)")
                }
                if let names = args["inputs"] as? [String] { _ = names.map(\.count) }
                if let id = args["id"] as? String { _ = Int64(id); _ = id.escapingControlCharacters }
            }
        }
    }
}
