import ArgumentParser
import Foundation
import PanicConfig
import PanicCore
import PanicPlatform
import PanicSigning
#if canImport(Glibc)
import Glibc
#endif

/// One finding of `panicctl doctor`: what was checked, whether it passed,
/// what was seen, and what to do when it did not.
struct DoctorCheck {
    var name: String
    var ok: Bool
    var detail: String
    var fix: String?

    static func pass(_ name: String, _ detail: String) -> DoctorCheck { .init(name: name, ok: true, detail: detail) }
    static func fail(_ name: String, _ detail: String, fix: String) -> DoctorCheck { .init(name: name, ok: false, detail: detail, fix: fix) }

    var json: [String: Any] { ["name": name, "ok": ok, "detail": detail, "fix": fix as Any] }
}

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Checks everything a working gateway needs and says how to fix what is not: exit 0 only when all pass.",
        discussion: """
            Checks: the configuration; the key file (present, mode 0600, owned by the daemon's user); the clock \
            (synchronised); free space for the outbox; the udev rules; that the daemon's user can open every device \
            the inputs use; the daemon running; every input present and at rest; every destination reachable, its \
            certificate valid for --cert-days more days, and a signed test alert acknowledged; the outbox backlog. \
            The test alert is marked as a test (SIA RX / Contact ID 601) at the receiver.
            """)

    @OptionGroup var daemon: DaemonOptions
    @Option(help: "The user the daemon runs as.") var daemonUser = "panic-gateway"
    @Option(help: "The systemd unit that grants the daemon supplementary groups.")
    var unitFile = "/usr/lib/systemd/system/panic-gateway.service"
    @Option(help: "Directories where the udev rules may be installed (repeatable).")
    var udevRulesDir: [String] = ["/usr/lib/udev/rules.d", "/lib/udev/rules.d", "/etc/udev/rules.d"]
    @Option(help: "Free space the outbox's filesystem must have, MiB.") var minFreeMib = 64
    @Option(help: "Days a receiver's certificate must still be valid.") var certDays = 30
    @Option(help: "Age of the oldest undelivered alert that counts as a backlog, seconds.") var maxBacklogSeconds = 300
    @Option(help: "Seconds to wait for the test alert's acknowledgements.") var timeout: Double = 20

    /// Numbers from the command line that go into arithmetic are range-checked
    /// (--min-free-mib and --max-backlog-seconds are only compared).
    func validate() throws {
        guard (0...3650).contains(certDays) else { throw ValidationError("--cert-days must be 0 to 3650") }
        guard timeout.isFinite, (1...600).contains(timeout) else { throw ValidationError("--timeout must be 1 to 600 seconds") }
    }

    func run() throws {
        var checks: [DoctorCheck] = []
        let cfg: GatewayConfig
        do {
            cfg = try GatewayConfig.load(path: daemon.config)
            checks.append(.pass("configuration", "\(daemon.config): \(cfg.inputs.count) input(s), \(cfg.destinationNames.count) destination(s)"))
        } catch {
            checks.append(.fail("configuration", "\(daemon.config): \(error)",
                                fix: "edit \(daemon.config) as the message says, then `panic-gateway check-config \(daemon.config)`"))
            report(checks)
            return
        }
        let user = DaemonUser(name: daemonUser, unitFile: unitFile)
        checks.append(keyFileCheck(cfg, user: user))
        checks.append(clockCheck())
        checks.append(diskCheck(cfg))
        checks.append(udevCheck(cfg))
        checks += deviceAccessChecks(cfg, user: user)
        checks += certificateChecks(cfg)
        checks += daemonChecks(cfg)
        report(checks)
    }

    private func report(_ checks: [DoctorCheck]) {
        let failed = checks.filter { !$0.ok }
        if daemon.json {
            print(Output.json(["ok": failed.isEmpty, "checks": checks.map(\.json)]))
        } else {
            for c in checks {
                let mark = c.ok ? Output.good("ok  ") : Output.bad("FAIL")
                print("\(mark)  \(c.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(c.detail)")
                if let fix = c.fix, !c.ok { print("      \(String(repeating: " ", count: 22)) fix: \(fix)") }
            }
            print(failed.isEmpty ? Output.good("all \(checks.count) checks passed") : Output.bad("\(failed.count) of \(checks.count) checks failed"))
        }
        if !failed.isEmpty { Foundation.exit(Exit.checkFailed) }
    }

    // MARK: The box

    private func keyFileCheck(_ cfg: GatewayConfig, user: DaemonUser) -> DoctorCheck {
        let path = cfg.keyFile
        var st = stat()
        guard stat(path, &st) == 0 else {
            return .fail("key file", "\(path) does not exist",
                         fix: "start the daemon once (it creates the key, mode 0600) or `panicctl keys generate`; then register its public key at the receiver")
        }
        if st.st_mode & 0o077 != 0 {
            return .fail("key file", "\(path) has mode \(String(st.st_mode & 0o777, radix: 8)): group or others may read the private key",
                         fix: "chmod 600 \(path)")
        }
        if let uid = user.uid, st.st_uid != uid, uid != 0 {
            return .fail("key file", "\(path) is owned by uid \(st.st_uid), not by \(daemonUser) (uid \(uid)): the daemon cannot read it",
                         fix: "chown \(daemonUser): \(path)")
        }
        do {
            let key = try KeyFile.load(path)
            return .pass("key file", "\(path), mode 600, key id \(key.publicKey.keyID)")
        } catch {
            return .fail("key file", "\(error)", fix: "replace it: move it aside and start the daemon (a new key must be registered at the receiver)")
        }
    }

    private func clockCheck() -> DoctorCheck {
        let c = ClockDiscipline.current()
        if c.synchronized {
            return .pass("clock", "synchronised (estimated error \(c.estimatedErrorMicroseconds) µs)")
        }
        return .fail("clock", "not synchronised: alerts are stamped with an unsynchronised clock and receivers may refuse signatures",
                     fix: "enable time synchronisation (`timedatectl set-ntp true`, or chrony/systemd-timesyncd) and check that an NTP server is reachable")
    }

    private func diskCheck(_ cfg: GatewayConfig) -> DoctorCheck {
        var fs = statvfs()
        let dir = FileManager.default.fileExists(atPath: cfg.stateDirectory) ? cfg.stateDirectory : (cfg.stateDirectory as NSString).deletingLastPathComponent
        guard statvfs(dir, &fs) == 0 else {
            return .fail("disk", "cannot read the filesystem of \(dir): \(String(cString: strerror(errno)))", fix: "create \(cfg.stateDirectory) (the package does)")
        }
        let free = UInt64(fs.f_bavail).multipliedReportingOverflow(by: UInt64(fs.f_frsize)).partialValue / (1024 * 1024)
        if free < UInt64(max(0, minFreeMib)) {
            return .fail("disk", "\(free) MiB free on the filesystem of \(dir), below \(minFreeMib) MiB", fix: "free space there: the outbox must be able to commit every alert")
        }
        return .pass("disk", "\(free) MiB free on the filesystem of \(dir)")
    }

    private func udevCheck(_ cfg: GatewayConfig) -> DoctorCheck {
        let needed = ["60-panic-gateway-gpio.rules", "70-panic-gateway-serial.rules"]
        let missing = needed.filter { rule in !udevRulesDir.contains { FileManager.default.fileExists(atPath: "\($0)/\(rule)") } }
        if missing.isEmpty { return .pass("udev rules", needed.joined(separator: ", ") + " installed") }
        return .fail("udev rules", "not installed: \(missing.joined(separator: ", ")) (looked in \(udevRulesDir.joined(separator: ", ")))",
                     fix: "reinstall the package (it installs them), then `udevadm control --reload && udevadm trigger`")
    }

    /// The device nodes the inputs use, and whether the daemon's user can open them.
    private func deviceAccessChecks(_ cfg: GatewayConfig, user: DaemonUser) -> [DoctorCheck] {
        var nodes: [(what: String, path: String)] = []
        let chips = GPIOChips.list()
        for input in cfg.inputs {
            guard case .gpio(let g) = input.source else { continue }
            if let chip = chips.first(where: { [$0.path, $0.name, $0.label].contains(g.chip) }) {
                nodes.append(("input \(input.spec.name)", chip.path))
            } else {
                nodes.append(("input \(input.spec.name)", g.chip.hasPrefix("/") ? g.chip : "/dev/\(g.chip)"))
            }
        }
        let usb = (try? UdevSerial())?.enumerate() ?? []
        for device in cfg.serialDevices {
            if let d = usb.first(where: { device.match.matches($0) }) { nodes.append(("serial device \(device.name)", d.devnode)) }
            else if let p = device.match.path { nodes.append(("serial device \(device.name)", p)) }
        }
        if nodes.isEmpty { return [.pass("device access", "no GPIO or serial inputs configured")] }
        // One line per device node, naming every input on it.
        var merged: [(what: String, path: String)] = []
        for n in nodes {
            if let i = merged.firstIndex(where: { $0.path == n.path }) { merged[i].what += ", " + n.what }
            else { merged.append(n) }
        }
        return merged.map { node in
            var st = stat()
            guard stat(node.path, &st) == 0 else {
                return .fail("device access", "\(node.what): \(node.path) does not exist",
                             fix: "check the wiring and `panicctl devices`; for a USB device, that it is plugged in")
            }
            if user.canReadWrite(st) { return .pass("device access", "\(node.what): \(daemonUser) can open \(node.path)") }
            let group = groupName(st.st_gid)
            return .fail("device access", "\(node.what): \(daemonUser) cannot open \(node.path) (owner uid \(st.st_uid), group \(group), mode \(String(st.st_mode & 0o777, radix: 8)))",
                         fix: "install the udev rules (they give group panic-gateway access to GPIO chips) or add \(daemonUser) to group \(group)")
        }
    }

    // MARK: The destinations' certificates

    private func certificateChecks(_ cfg: GatewayConfig) -> [DoctorCheck] {
        cfg.uplinks.compactMap { u -> DoctorCheck? in
            guard let url = URL(string: u.url), url.scheme == "https", let host = url.host else { return nil }
            let port = url.port ?? 443
            // An IP literal is checked against the certificate's IP addresses, and sent without SNI.
            let isIP = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
            var args = ["s_client", "-connect", isIP && host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)", "-verify_return_error", "-brief"]
            args += isIP ? ["-verify_ip", host] : ["-servername", host, "-verify_hostname", host]
            if let ca = u.caFile { args += ["-CAfile", ca] }
            guard let handshake = runTool("openssl", args, input: "") else {
                return .fail("certificate \(u.name)", "openssl is not installed: the certificate cannot be checked", fix: "apt install openssl")
            }
            guard handshake.status == 0, let pem = certificatePEM(connect: args[2], sni: isIP ? nil : host) else {
                let why = handshake.output.split(separator: "\n").first { $0.contains("verify error") || $0.contains("error") }.map(String.init) ?? "handshake failed"
                return .fail("certificate \(u.name)", "\(host):\(port): \(why)",
                             fix: "check that the receiver's certificate names \(host) and chains to \(u.caFile ?? "the system's trust store")")
            }
            let seconds = certDays * 86_400
            guard let still = runTool("openssl", ["x509", "-noout", "-checkend", "\(seconds)", "-enddate"], input: pem) else {
                return .fail("certificate \(u.name)", "openssl x509 failed", fix: "apt install openssl")
            }
            let end = still.output.split(separator: "\n").first { $0.hasPrefix("notAfter=") }.map { String($0.dropFirst(9)) } ?? "?"
            if still.status != 0 {
                return .fail("certificate \(u.name)", "\(host):\(port) certificate expires \(end), within \(certDays) days",
                             fix: "renew the receiver's certificate before it expires: gateways will refuse it then")
            }
            return .pass("certificate \(u.name)", "\(host):\(port) verified, valid until \(end)")
        }
    }

    private func certificatePEM(connect: String, sni: String?) -> String? {
        guard let r = runTool("openssl", ["s_client", "-connect", connect, "-showcerts"] + (sni.map { ["-servername", $0] } ?? []), input: "") else { return nil }
        guard let start = r.output.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = r.output.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<r.output.endIndex) else { return nil }
        return String(r.output[start.lowerBound..<end.upperBound]) + "\n"
    }

    // MARK: The running daemon

    private func daemonChecks(_ cfg: GatewayConfig) -> [DoctorCheck] {
        let path = daemon.socket ?? cfg.controlSocket
        let status: [String: Any]
        do {
            let reply = try ControlClient(path: path).call("status")
            guard reply["ok"] as? Bool == true, let result = reply["result"] as? [String: Any] else {
                return [.fail("daemon", "status refused: \(reply["error"] as? String ?? "?")", fix: "see `journalctl -u panic-gateway`")]
            }
            status = result
        } catch let e as ClientError {
            return [.fail("daemon", e.message, fix: "`systemctl start panic-gateway`, then `journalctl -u panic-gateway` if it does not stay up")]
        } catch {
            return [.fail("daemon", "\(error)", fix: "`systemctl status panic-gateway`")]
        }
        var checks: [DoctorCheck] = [.pass("daemon", "running, up \(text(status["uptime_s"])) s, control socket \(path)")]
        for input in status["inputs"] as? [[String: Any]] ?? [] {
            let name = text(input["name"])
            switch input["state"] as? String {
            case "idle": checks.append(.pass("input \(name)", "present and at rest"))
            case "pressed":
                checks.append(.fail("input \(name)", "reads pressed with nobody pressing it",
                                    fix: "a normally-closed loop is open, the contact type or active_low is wrong, or the button is stuck: check with `panicctl watch \(name)`"))
            default:
                checks.append(.fail("input \(name)", "in trouble: \(text(input["trouble"]))", fix: "check the device and its wiring; `panicctl devices` shows what is present"))
            }
        }
        for q in status["queue"] as? [[String: Any]] ?? [] {
            let dest = text(q["destination"])
            let pending = (q["pending"] as? NSNumber)?.intValue ?? 0
            let age = (q["oldest_pending_age_s"] as? NSNumber)?.intValue
            if let age, age > maxBacklogSeconds {
                checks.append(.fail("backlog \(dest)", "\(pending) alert(s) undelivered, the oldest \(age) s old",
                                    fix: "the destination is not taking alerts: see its line below and `panicctl queue`"))
            } else {
                checks.append(.pass("backlog \(dest)", pending == 0 ? "nothing undelivered" : "\(pending) alert(s) on their way, the oldest \(age ?? 0) s old"))
            }
        }
        // A signed test alert through every destination, as the technician's `panicctl send-test`.
        let reply: [String: Any]
        do {
            reply = try ControlClient(path: path).call("send-test", args: ["timeout_s": timeout])
        } catch {
            return checks + [.fail("test alert", "\(error)", fix: "see `journalctl -u panic-gateway`")]
        }
        let result = reply["result"] as? [String: Any] ?? [:]
        let rows = result["destinations"] as? [[String: Any]] ?? []
        if rows.isEmpty { checks.append(.fail("test alert", text(reply["error"]), fix: "see `journalctl -u panic-gateway`")) }
        for d in rows {
            let name = text(d["destination"])
            if (d["acknowledged"] as? Bool) == true {
                checks.append(.pass("destination \(name)", "signed test alert acknowledged in \(text(d["latency_ms"])) ms"))
            } else {
                checks.append(.fail("destination \(name)", "signed test alert not acknowledged: \(text(d["error"]))",
                                    fix: "check the network path and the URL; a 401 means the receiver does not know this gateway's key (`panicctl keys show`) or the clocks disagree"))
            }
        }
        return checks
    }

    private func runTool(_ tool: String, _ args: [String], input: String) -> (status: Int32, output: String)? {
        let candidates = ["/usr/bin/\(tool)", "/bin/\(tool)", "/usr/local/bin/\(tool)"]
        guard let exe = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        let inp = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = inp
        do { try p.run() } catch { return nil }
        inp.fileHandleForWriting.write(Data(input.utf8))
        try? inp.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// The daemon's user as the kernel will see it: uid, primary group, the
/// groups it is a member of, and those its unit adds (SupplementaryGroups=).
struct DaemonUser {
    var uid: uid_t?
    var gids: Set<gid_t> = []

    init(name: String, unitFile: String) {
        guard let pw = getpwnam(name) else {
            // No passwd entry (a minimal system): root is uid 0 all the same.
            if name == "root" { uid = 0 }
            return
        }
        uid = pw.pointee.pw_uid
        let primary = pw.pointee.pw_gid
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: 64)
        if getgrouplist(name, primary, &groups, &count) >= 0 { gids = Set(groups.prefix(Int(max(0, count)))) }
        gids.insert(primary)
        if let unit = try? String(contentsOfFile: unitFile, encoding: .utf8) {
            for line in unit.split(separator: "\n") where line.hasPrefix("SupplementaryGroups=") {
                for g in line.dropFirst("SupplementaryGroups=".count).split(separator: " ") {
                    if let gr = getgrnam(String(g)) { gids.insert(gr.pointee.gr_gid) }
                }
            }
        }
    }

    /// Whether the user may open a node with this owner, group and mode for reading and writing.
    func canReadWrite(_ st: stat) -> Bool {
        guard let uid else { return false }
        if uid == 0 { return true }
        if st.st_uid == uid { return st.st_mode & 0o600 == 0o600 }
        if gids.contains(st.st_gid) { return st.st_mode & 0o060 == 0o060 }
        return st.st_mode & 0o006 == 0o006
    }
}

func groupName(_ gid: gid_t) -> String {
    guard let g = getgrgid(gid) else { return "\(gid)" }
    return String(cString: g.pointee.gr_name)
}
