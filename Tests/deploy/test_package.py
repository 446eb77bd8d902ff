"""The Debian package, installed into a clean Debian 12 root: what lands
where, with which owners and modes; that the bundled Swift runtime carries
the programs inside the root (no toolchain there); the users, directories
and unit enablement the maintainer scripts make; the first start as the
service user; the units verified and scored inside the root; removal and
purge.

What cannot be checked without systemd as PID 1 in the root: that
StateDirectory=/RuntimeDirectory= create /var/lib and /run directories at
start (tmpfiles makes /var/lib/panic-gateway at install; /run/panic-gateway
is made here the way RuntimeDirectory= would), the sandbox itself
(test_units.py runs the daemon under the units' seccomp policy instead),
the watchdog and `systemctl reload`.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from deploy_helpers import chroot, chroot_mounts, control_field, install_into_fresh_root, remove_root, run, wait_until

PROGRAMS = ["panic-gateway", "panicctl", "panic-receiver"]
SWIFT_LIBS = ["libswiftCore.so", "libFoundation.so", "libFoundationEssentials.so", "libdispatch.so", "libswift_Concurrency.so"]


def passwd(root: Path) -> dict[str, list[str]]:
    return {l.split(":")[0]: l.split(":") for l in (root / "etc" / "passwd").read_text().splitlines() if l}


def groups(root: Path) -> dict[str, list[str]]:
    return {l.split(":")[0]: l.split(":") for l in (root / "etc" / "group").read_text().splitlines() if l}


def owner(root: Path, path: str) -> tuple[str, str, int, str]:
    """(user, group, permission bits, kind) of `path` inside the root, names
    from the root's own passwd and group files."""
    st = os.lstat(root / path.lstrip("/"))
    users = {int(v[2]): k for k, v in passwd(root).items()}
    grps = {int(v[2]): k for k, v in groups(root).items()}
    kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "p" if stat.S_ISFIFO(st.st_mode) else "f"
    return users.get(st.st_uid, str(st.st_uid)), grps.get(st.st_gid, str(st.st_gid)), stat.S_IMODE(st.st_mode), kind


# --- the .deb itself --------------------------------------------------------

def test_control_fields_and_members(deb):
    depends = control_field(deb, "Depends")
    for needed in ("libc6", "libgpiod2", "libsqlite3-0", "libstdc++6", "systemd (>= 252)", "procps"):
        assert needed in depends, f"Depends lacks {needed}: {depends}"
    assert "swift" not in depends.lower(), "the Swift runtime is bundled, not a dependency"
    assert control_field(deb, "Architecture") == run(["dpkg", "--print-architecture"]).stdout.strip()
    # openssl: `panicctl doctor` checks the receivers' certificates with it.
    assert control_field(deb, "Recommends") == "udev, openssl"
    conffiles = run(["dpkg-deb", "--info", deb, "conffiles"]).stdout.split()
    assert conffiles == ["/etc/panic-gateway/gateway.toml", "/etc/panic-receiver/receiver.toml.example"]
    members = run(["dpkg-deb", "-c", deb]).stdout.splitlines()
    assert members, "empty package"
    for line in members:
        assert " root/root " in line, f"not owned by root: {line}"
        assert "./opt/" not in line
    names = [line.split()[-1] if " -> " not in line else line.split()[-3] for line in members]
    for p in PROGRAMS:
        assert f"./usr/bin/{p}" in names


def test_maintainer_scripts_are_posix_sh(deb, tmp_path):
    run(["dpkg-deb", "-e", deb, tmp_path / "DEBIAN"])
    for script in ("postinst", "prerm", "postrm"):
        path = tmp_path / "DEBIAN" / script
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        assert path.read_text().startswith("#!/bin/sh\n")
        run(["sh", "-n", path])
        if Path("/bin/dash").exists():
            run(["dash", "-n", path])


# --- installed into a clean root -------------------------------------------

EXPECTED = [
    # path, user, group, mode, kind
    ("/usr/bin/panic-gateway", "root", "root", 0o755, "f"),
    ("/usr/bin/panicctl", "root", "root", 0o755, "f"),
    ("/usr/bin/panic-receiver", "root", "root", 0o755, "f"),
    ("/usr/lib/panic-gateway", "root", "root", 0o755, "d"),
    *[(f"/usr/lib/panic-gateway/{lib}", "root", "root", 0o644, "f") for lib in SWIFT_LIBS],
    ("/lib/systemd/system/panic-gateway.service", "root", "root", 0o644, "f"),
    ("/lib/systemd/system/panic-receiver.service", "root", "root", 0o644, "f"),
    ("/usr/lib/sysusers.d/panic-gateway.conf", "root", "root", 0o644, "f"),
    ("/usr/lib/sysusers.d/panic-receiver.conf", "root", "root", 0o644, "f"),
    ("/usr/lib/tmpfiles.d/panic-gateway.conf", "root", "root", 0o644, "f"),
    ("/usr/lib/tmpfiles.d/panic-receiver.conf", "root", "root", 0o644, "f"),
    ("/lib/udev/rules.d/60-panic-gateway-gpio.rules", "root", "root", 0o644, "f"),
    ("/etc/panic-gateway", "root", "root", 0o755, "d"),
    ("/etc/panic-gateway/gateway.toml", "root", "root", 0o644, "f"),
    ("/etc/panic-receiver/receiver.toml.example", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/README.md", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/copyright", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/INSTALL.md", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/CONFIGURATION.md", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/examples/gateway.toml.example", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/examples/raspberry-pi-gpio.toml", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/examples/dc09-with-backup.toml", "root", "root", 0o644, "f"),
    ("/usr/share/doc/panic-gateway/changelog.Debian.gz", "root", "root", 0o644, "f"),
    ("/usr/share/man/man8/panic-gateway.8.gz", "root", "root", 0o644, "f"),
    ("/usr/share/man/man8/panic-receiver.8.gz", "root", "root", 0o644, "f"),
    ("/usr/share/man/man1/panicctl.1.gz", "root", "root", 0o644, "f"),
    # made by the postinst (systemd-tmpfiles --create), before any start
    ("/var/lib/panic-gateway", "panic-gateway", "panic-gateway", 0o750, "d"),
    ("/var/lib/panic-receiver", "panic-receiver", "panic-receiver", 0o750, "d"),
]


@pytest.mark.parametrize("path,user,group,mode,kind", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_installed_file(installed_root, path, user, group, mode, kind):
    root, _ = installed_root
    assert (root / path.lstrip("/")).exists(), f"{path} missing"
    got = owner(root, path)
    assert got == (user, group, mode, kind), f"{path}: {got[0]}:{got[1]} {oct(got[2])} {got[3]}, want {user}:{group} {oct(mode)} {kind}"


def test_nothing_else_under_usr_bin_or_units(installed_root):
    root, _ = installed_root
    listed = run(["chroot", root, "dpkg", "-L", "panic-gateway"]).stdout.split()
    assert sorted(p for p in listed if p.startswith("/usr/bin/")) == sorted(f"/usr/bin/{p}" for p in PROGRAMS)
    assert sorted(p for p in listed if p.endswith(".service")) == [
        "/lib/systemd/system/panic-gateway.service", "/lib/systemd/system/panic-receiver.service"]
    assert not any(p.startswith("/opt") or p.startswith("/usr/local") for p in listed)


def test_dpkg_verify_and_conffile(installed_root):
    root, output = installed_root
    assert "Setting up panic-gateway" in output
    verify = run(["chroot", root, "dpkg", "--verify", "panic-gateway"], check=False)
    assert verify.returncode == 0 and verify.stdout == "", f"dpkg --verify: {verify.stdout}{verify.stderr}"
    conf = run(["chroot", root, "dpkg-query", "-W", "-f=${Conffiles}", "panic-gateway"]).stdout
    assert re.search(r"^ /etc/panic-gateway/gateway\.toml [0-9a-f]{32}$", conf, re.M), conf
    assert (root / "etc/panic-gateway/gateway.toml").read_text() == \
        (Path(__file__).resolve().parents[2] / "deploy" / "gateway.toml.example").read_text()


def test_system_users_created_by_sysusers(installed_root):
    root, output = installed_root
    assert "Creating user 'panic-gateway'" in output, output
    users, grps = passwd(root), groups(root)
    for name in ("panic-gateway", "panic-receiver"):
        assert name in users and name in grps, f"{name} missing"
        _, _, uid, gid, gecos, home, shell = users[name]
        assert int(uid) < 1000, f"{name} is not a system user (uid {uid})"
        assert gid == grps[name][2], f"{name}'s primary group is not its own"
        assert home == f"/var/lib/{name}" and shell == "/usr/sbin/nologin"
    assert "dialout" in grps, "SupplementaryGroups=dialout needs Debian's static dialout group"
    assert "gpio" not in grps, "the unit must not rely on a gpio group: Debian has none"


def test_gateway_unit_enabled_receiver_not(installed_root):
    root, _ = installed_root
    wants = root / "etc/systemd/system/multi-user.target.wants"
    link = wants / "panic-gateway.service"
    assert link.is_symlink() and os.readlink(link) == "/lib/systemd/system/panic-gateway.service"
    assert not (wants / "panic-receiver.service").exists(), "the receiver belongs on the central server"


def test_man_pages_rendered_from_help(installed_root):
    root, _ = installed_root
    page = gzip.decompress((root / "usr/share/man/man8/panic-gateway.8.gz").read_bytes()).decode()
    assert page.startswith('.\\" Generated by scripts/manpage.py')
    for text in (".TH \"PANIC-GATEWAY\" \"8\"", "check\\-config", "\\-\\-config", "/var/lib/panic\\-gateway/gateway.key", "EXIT STATUS"):
        assert text in page, f"{text!r} missing from panic-gateway(8)"
    ctl = gzip.decompress((root / "usr/share/man/man1/panicctl.1.gz").read_bytes()).decode()
    assert "queue show" in ctl


def test_programs_run_in_the_root_on_the_bundled_runtime(installed_root):
    root, _ = installed_root
    assert not (root / "opt").exists() or not any((root / "opt").iterdir()), "no toolchain in the root"
    with chroot_mounts(root):
        for p in PROGRAMS:
            cp = chroot(root, f"/usr/bin/{p}", "--help", timeout=60)
            assert "USAGE:" in cp.stdout, cp.stdout
            ldd = chroot(root, "ldd", f"/usr/bin/{p}").stdout
            assert "not found" not in ldd, ldd
            swift = [l.split("=>") for l in ldd.splitlines() if "swift" in l.lower() or "Foundation" in l or "dispatch" in l]
            assert swift, ldd
            for name, where in swift:
                resolved = os.path.normpath(where.split("(")[0].strip())
                assert resolved.startswith("/usr/lib/panic-gateway/"), f"{name.strip()} from {resolved}"
        cp = chroot(root, "/usr/bin/panic-gateway", "check-config", "/etc/panic-gateway/gateway.toml", timeout=60)
        assert "/etc/panic-gateway/gateway.toml: OK" in cp.stdout, cp.stdout + cp.stderr
        cp = chroot(root, "/usr/bin/panicctl", "config", "check", "/etc/panic-gateway/gateway.toml", timeout=60)
        assert cp.returncode == 0


def test_units_verify_inside_the_root(installed_root):
    """systemd-analyze verify inside the root: the ExecStart/ExecReload
    binaries exist there, and man-db resolves the man: documentation."""
    root, _ = installed_root
    with chroot_mounts(root):
        for unit in ("panic-gateway.service", "panic-receiver.service"):
            cp = chroot(root, "systemd-analyze", "verify", f"/lib/systemd/system/{unit}", check=False, timeout=120)
            assert cp.returncode == 0 and cp.stdout.strip() == "" and cp.stderr.strip() == "", \
                f"{unit}: rc={cp.returncode}\n{cp.stdout}{cp.stderr}"


SCORE_RE = re.compile(r"Overall exposure level for (\S+): (\d+\.\d) (\w+)")


@pytest.mark.parametrize("unit,limit", [("panic-gateway.service", 2.1), ("panic-receiver.service", 1.2)])
def test_security_score_inside_the_root(installed_root, unit, limit):
    """`systemd-analyze security --offline=true` (systemd 252 has --offline)
    on the unit as installed; the band must be OK or better, and the score no
    worse than measured when the unit was written (2.1 / 1.2)."""
    root, _ = installed_root
    with chroot_mounts(root):
        cp = chroot(root, "systemd-analyze", "security", "--offline=true", "--threshold=49", unit, check=False, timeout=120)
    m = SCORE_RE.search(cp.stdout)
    assert m, cp.stdout + cp.stderr
    score, band = float(m.group(2)), m.group(3)
    print(f"[security] {unit} in the root: {score} {band}")
    assert band in ("PERFECT", "SAFE", "OK"), f"{unit}: {score} {band}"
    assert score <= limit, f"{unit}: exposure {score} > {limit}\n{cp.stdout}"
    assert cp.returncode == 0, f"--threshold=49 (top of OK) failed: {cp.stdout}"


def test_udev_rules_parse_inside_the_root(installed_root):
    """udevadm (systemd 252 has no `udevadm verify`) reads every rules file
    on `udevadm test` and reports a bad line as FILE:LINE message."""
    root, _ = installed_root
    with chroot_mounts(root):
        cp = chroot(root, "udevadm", "test", "/sys/devices/virtual/mem/null", check=False, timeout=60)
    out = cp.stdout + cp.stderr
    rules = "/usr/lib/udev/rules.d/60-panic-gateway-gpio.rules"
    assert f"Reading rules file: {rules}" in out or "Reading rules file: /lib/udev/rules.d/60-panic-gateway-gpio.rules" in out, out[-3000:]
    bad = [l for l in out.splitlines() if "60-panic-gateway-gpio.rules:" in l]
    assert not bad, bad
    text = (root / "lib/udev/rules.d/60-panic-gateway-gpio.rules").read_text()
    assert re.search(r'^SUBSYSTEM=="gpio", KERNEL=="gpiochip\[0-9\]\*", GROUP="panic-gateway", MODE="0660"$', text, re.M)


# --- first start as the service user ----------------------------------------

TEST_CONFIG = """# written by Tests/deploy: the example's layout, a loopback uplink nobody answers
gateway_id = "gw-deb-test"
site = "package test"

[[inputs]]
name = "btn"
kind = "panic"
zone = 1
source = { type = "simulated", fifo = "/run/panic-gateway/sim/btn" }

[[uplinks]]
name = "central"
url = "http://127.0.0.1:9"
"""


@pytest.fixture(scope="module")
def first_start(installed_root):
    """Starts `panic-gateway run` once inside the root as panic-gateway with
    UMask 0027 and dialout, as the unit would, with /run/panic-gateway made
    like RuntimeDirectory= and a NOTIFY_SOCKET the test listens on; stops it
    with SIGTERM. Returns what happened."""
    root, _ = installed_root
    users = passwd(root)
    uid, gid = int(users["panic-gateway"][2]), int(users["panic-gateway"][3])
    run_dir = root / "run/panic-gateway"
    run_dir.mkdir(mode=0o750, exist_ok=True)
    os.chown(run_dir, uid, gid)
    (root / "etc/panic-gateway/test.toml").write_text(TEST_CONFIG)
    sock_path = root / "run/test-notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    os.chmod(sock_path, 0o666)
    listener.settimeout(0.2)
    log = root / "tmp/first-start.log"
    result: dict = {"datagrams": []}
    p = None
    with chroot_mounts(root), open(log, "wb") as err:
        try:
            p = subprocess.Popen(
                [shutil.which("chroot"), "--userspec=panic-gateway:panic-gateway", "--groups=dialout", str(root),
                 "/usr/bin/panic-gateway", "run", "--config", "/etc/panic-gateway/test.toml"],
                stdout=err, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": "/run/test-notify.sock", "LANG": "C.UTF-8"},
                preexec_fn=lambda: os.umask(0o027))
            def running():
                try:
                    result["datagrams"].append(listener.recv(4096).decode())
                except socket.timeout:
                    pass
                if p.poll() is not None:
                    pytest.fail(f"daemon exited {p.returncode}: {log.read_text()}", pytrace=False)
                return re.search(r"^<5>running\b", log.read_text(), re.M)
            wait_until(running, 30, "the daemon to log `running`", diagnostics=lambda: log.read_text())
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                with contextlib.suppress(socket.timeout):
                    result["datagrams"].append(listener.recv(4096).decode())
            result["files"] = {name: owner(root, f"/var/lib/panic-gateway/{name}") for name in ("gateway.key", "outbox.db")}
            result["fifo"] = owner(root, "/run/panic-gateway/sim/btn")
            p.send_signal(signal.SIGTERM)
            result["rc"] = p.wait(timeout=30)
            with contextlib.suppress(socket.timeout):
                while True:
                    result["datagrams"].append(listener.recv(4096).decode())
        finally:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            listener.close()
            sock_path.unlink(missing_ok=True)
    result["log"] = log.read_text()
    return result


def test_first_start_generates_the_key_as_the_service_user(first_start):
    assert "generated a new gateway key" in first_start["log"], first_start["log"]
    assert first_start["files"]["gateway.key"] == ("panic-gateway", "panic-gateway", 0o600, "f")
    assert first_start["files"]["outbox.db"] == ("panic-gateway", "panic-gateway", 0o640, "f"), "UMask=0027"
    assert first_start["fifo"][:2] == ("panic-gateway", "panic-gateway")
    assert first_start["rc"] == 0, first_start["log"]
    assert re.search(r"^<5>stopped", first_start["log"], re.M)


def test_first_start_notifies_systemd(first_start):
    """READY=1 after start-up and STOPPING=1 on SIGTERM, from the packaged
    binary (needs SystemdNotifier wired into `panic-gateway run`)."""
    got = first_start["datagrams"]
    assert any(d.split("\n")[0] == "READY=1" for d in got), f"no READY=1 on NOTIFY_SOCKET; received {got}"
    assert any(d.startswith("STOPPING=1") for d in got), f"no STOPPING=1 on NOTIFY_SOCKET; received {got}"
    assert got.index(next(d for d in got if d.startswith("READY=1"))) < got.index(next(d for d in got if d.startswith("STOPPING=1")))


# --- removal and purge (a root of their own) --------------------------------

def test_remove_keeps_state_purge_removes_it_keeping_the_outbox_aside(deb, tmp_path):
    """Issue 15: `remove` keeps /var/lib/panic-gateway; `purge` removes it and the
    user — but the outbox, which may hold undelivered alarms, is moved to
    /var/backups/panic-gateway/ and the receiver's records are never removed."""
    root, _ = install_into_fresh_root(deb, tmp_path)
    try:
        (root / "var/lib/panic-gateway/gateway.key").write_text("stand-in for the identity key\n")
        (root / "var/lib/panic-gateway/outbox.db").write_text("stand-in for the outbox\n")
        (root / "var/lib/panic-receiver").mkdir(exist_ok=True)
        (root / "var/lib/panic-receiver/receiver.db").write_text("stand-in for the receiver's records\n")
        with chroot_mounts(root):
            chroot(root, "dpkg", "-r", "panic-gateway", timeout=120)
            assert not (root / "usr/bin/panic-gateway").exists()
            assert not (root / "usr/lib/panic-gateway").exists()
            assert (root / "etc/panic-gateway/gateway.toml").exists(), "remove keeps conffiles"
            status = chroot(root, "dpkg-query", "-W", "-f=${Status}", "panic-gateway").stdout
            assert status == "deinstall ok config-files", status
            cp = chroot(root, "dpkg", "-P", "panic-gateway", timeout=120)
            assert not (root / "etc/panic-gateway/gateway.toml").exists(), "purge removes conffiles"
            assert not (root / "etc/systemd/system/multi-user.target.wants/panic-gateway.service").exists()
            assert not (root / "var/lib/panic-gateway").exists(), "purge removes the gateway's state and key"
            kept = list((root / "var/backups/panic-gateway").glob("outbox-*/outbox.db"))
            assert len(kept) == 1 and kept[0].read_text() == "stand-in for the outbox\n", kept
            assert kept[0].parent.name in cp.stdout + cp.stderr, "purge says where the outbox went"
            users = passwd(root)
            assert "panic-gateway" not in users, "purge removes the gateway's user"
            assert "panic-gateway" not in groups(root), "and its group"
            assert "panic-receiver" in users, "the receiver's user stays while its records do"
            assert (root / "var/lib/panic-receiver/receiver.db").exists()
            assert "kept /var/lib/panic-receiver" in cp.stdout + cp.stderr
    finally:
        remove_root(root)


def test_first_install_starts_the_service_only_once_the_configuration_is_this_boxs(installed_root, tmp_path):
    """The conffile is a commented hardware example (issue 16): its buttons and
    receiver are not this box's, so a first installation where systemd runs
    enables the service but does not start it; with an edited configuration
    the same postinst starts it. systemd is stood in for by recording stubs
    of deb-systemd-invoke and systemctl, and a /run/systemd/system directory."""
    root, _ = installed_root
    stubs = root / "usr/local/sbin"
    stubs.mkdir(parents=True, exist_ok=True)
    log = root / "tmp/invoked"
    for tool in ("deb-systemd-invoke", "systemctl"):
        (stubs / tool).write_text(f"#!/bin/sh\necho {tool} \"$@\" >> /tmp/invoked\n")
        (stubs / tool).chmod(0o755)
    run_systemd = root / "run/systemd/system"
    made = not run_systemd.exists()
    run_systemd.mkdir(parents=True, exist_ok=True)
    conf = root / "etc/panic-gateway/gateway.toml"
    original = conf.read_text()
    env = {"PATH": "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"}
    try:
        with chroot_mounts(root):
            log.write_text("")
            cp = chroot(root, "/var/lib/dpkg/info/panic-gateway.postinst", "configure", "", env=env)
            invoked = log.read_text()
            assert "start panic-gateway.service" not in invoked, invoked
            assert "not started: edit /etc/panic-gateway/gateway.toml" in cp.stderr, cp.stderr
            conf.write_text(original.replace('gateway_id = "embassy-x-gw1"', 'gateway_id = "this-box"'))
            log.write_text("")
            cp = chroot(root, "/var/lib/dpkg/info/panic-gateway.postinst", "configure", "", env=env)
            assert "deb-systemd-invoke start panic-gateway.service" in log.read_text(), log.read_text() + cp.stderr
    finally:
        conf.write_text(original)
        for tool in ("deb-systemd-invoke", "systemctl"):
            (stubs / tool).unlink(missing_ok=True)
        log.unlink(missing_ok=True)
        if made:
            shutil.rmtree(run_systemd, ignore_errors=True)
