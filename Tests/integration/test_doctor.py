"""`panicctl doctor` (issue 16): on a healthy gateway every check passes;
each fault introduced alone makes it exit 1 with the line naming that fault
and saying what to fix, and nothing else changes.

The host's kernel clock may be unsynchronised (no time daemon on a build
machine): the baseline is read from the kernel here (adjtimex) and the clock
check must agree with it. The HIL guest, where the test may mark the clock
synchronised, runs doctor to exit 0 (hil/scenarios/gateway-doctor)."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
import time

import conftest as c


def kernel_clock_synchronised() -> bool:
    """adjtimex(2) read-only: TIME_ERROR (5) means unsynchronised."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    buf = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
    return libc.adjtimex(buf) not in (-1, 5)


def doctor(bench: c.ControlBench, *extra: str, udev_dir, timeout: float = 60) -> tuple[int, dict]:
    cp = subprocess.run([c.binary("panicctl"), "doctor", "--config", str(bench.setup.config), "--socket", str(bench.socket),
                         "--daemon-user", "root", "--udev-rules-dir", str(udev_dir), "--timeout", "5", "--json", *extra],
                        capture_output=True, text=True, timeout=timeout)
    assert cp.stdout.strip(), f"doctor printed nothing (rc {cp.returncode}): {cp.stderr}"
    return cp.returncode, json.loads(cp.stdout)


def failed(report: dict) -> dict[str, dict]:
    return {ch["name"]: ch for ch in report["checks"] if not ch["ok"]}


def test_doctor_passes_a_healthy_gateway_and_names_each_fault_alone(tmp_path, procs, control_dir):
    bench = c.start_control_bench(procs, tmp_path, control_dir)
    udev = c.REPO / "udev"
    rc, report = doctor(bench, udev_dir=udev)
    names = [ch["name"] for ch in report["checks"]]
    for expected in ("configuration", "key file", "clock", "disk", "udev rules", "device access", "daemon", "input btn",
                     "backlog central", "destination central"):
        assert expected in names, f"doctor did not check {expected!r}: {names}"
    baseline = set(failed(report))
    synced = kernel_clock_synchronised()
    assert baseline == (set() if synced else {"clock"}), (
        f"healthy gateway, kernel clock {'synchronised' if synced else 'unsynchronised'}: doctor failed {sorted(baseline)}\n"
        f"{json.dumps(report, indent=1)}")
    assert rc == (0 if synced else 1)
    dest = next(ch for ch in report["checks"] if ch["name"] == "destination central")
    assert "acknowledged" in dest["detail"], dest
    test_alerts = [r for r in c.receiver_rows(bench.receiver.database) if r["test"]]
    assert test_alerts, "doctor's signed test alert is not at the receiver (as a test)"

    def only(expected: str, *extra: str, needle: str, fix: str, udev_dir=udev):
        rc, rep = doctor(bench, *extra, udev_dir=udev_dir)
        got = failed(rep)
        assert rc == 1, f"{expected}: doctor exited {rc}"
        assert set(got) == baseline | {expected}, f"{expected}: failed {sorted(got)}, expected {sorted(baseline | {expected})}"
        assert needle in got[expected]["detail"], got[expected]
        assert fix in (got[expected]["fix"] or ""), got[expected]
        return got[expected]

    # The key file readable by others.
    key = bench.setup.key_file
    os.chmod(key, 0o644)
    try:
        only("key file", needle="mode 644", fix=f"chmod 600 {key}")
    finally:
        os.chmod(key, 0o600)

    # udev rules not installed.
    empty = tmp_path / "no-rules"
    empty.mkdir()
    only("udev rules", needle="60-panic-gateway-gpio.rules", fix="udevadm", udev_dir=empty)

    # Too little free space (the threshold raised past what the disk has).
    only("disk", "--min-free-mib", str(10 ** 9), needle="MiB free", fix="free space")

    # The input reads pressed at rest.
    button = c.Button(bench.setup.fifo)
    try:
        button.press()
        c.wait_until(lambda: bench.input()["state"] == "pressed", 5, "btn to read pressed")
        only("input btn", needle="pressed with nobody pressing it", fix="panicctl watch btn")
    finally:
        button.release()
        button.close()
    c.wait_until(lambda: bench.input()["state"] == "idle", 5, "btn at rest again")
    # That press and release went out; wait until nothing is pending before the next fault.
    c.wait_until(lambda: all(q["pending"] == 0 for q in bench.status()["queue"]), 15, "the queue to drain")

    # The receiver down: the test alert is not acknowledged, and a backlog builds.
    bench.receiver.proc.terminate()
    only("destination central", "--max-backlog-seconds", "3600", needle="not acknowledged", fix="network path")
    time.sleep(2.5)
    rc, rep = doctor(bench, "--max-backlog-seconds", "1", udev_dir=udev)
    got = failed(rep)
    assert rc == 1 and "backlog central" in got and "undelivered" in got["backlog central"]["detail"], got

    # The daemon not running.
    bench.gateway.terminate()
    only("daemon", needle="not running", fix="systemctl start panic-gateway")

    # A broken configuration: doctor stops at it.
    bench.setup.config.write_text(bench.setup.config.read_text() + "\n[[inputs]]\nname = \n")
    rc, rep = doctor(bench, udev_dir=udev)
    assert rc == 1 and [ch["name"] for ch in rep["checks"]] == ["configuration"] and not rep["checks"][0]["ok"], rep
    assert "check-config" in rep["checks"][0]["fix"], rep


def test_doctor_checks_the_receivers_certificate_for_long_enough(tmp_path, procs, control_dir):
    from test_receiver_hostile_clients import make_dev_certs, start_limited_receiver
    certs = make_dev_certs(tmp_path / "certs")  # valid for one day
    key = c.keygen(tmp_path / "gateway.key")
    rx = start_limited_receiver(procs, tmp_path, [key.public_b64], certs=certs)
    sock = control_dir / "control.sock"
    setup = c.make_control_gateway(tmp_path, rx.base_url, key, sock, uplink_toml=f'ca_file = "{certs.ca}"')
    gw = c.start_gateway(procs, setup)
    c.wait_for_control(sock, gw)
    bench = c.ControlBench(setup=setup, gateway=gw, socket=sock, key=key, port=rx.port, receiver=None)

    rc, rep = doctor(bench, udev_dir=c.REPO / "udev")
    got = failed(rep)
    assert "certificate central" in got and "within 30 days" in got["certificate central"]["detail"], rep
    assert "renew" in got["certificate central"]["fix"]
    assert rc == 1
    rc, rep = doctor(bench, "--cert-days", "0", udev_dir=c.REPO / "udev")
    cert = next(ch for ch in rep["checks"] if ch["name"] == "certificate central")
    assert cert["ok"] and "verified" in cert["detail"], cert
    dest = next(ch for ch in rep["checks"] if ch["name"] == "destination central")
    assert dest["ok"], dest
