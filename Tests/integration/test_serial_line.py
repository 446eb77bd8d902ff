"""USB-serial inputs, line protocol, over real pseudo-terminals.

A scripted device writes on the master side of a pty; the gateway opens the
slave as a fixed-path `[[serial_devices]]` entry (`protocol = "line"`).
Every alert is checked where it ends up: in a real panic-receiver's SQLite
database (kind, input, zone, what a restore restores, order)."""

from __future__ import annotations

import os
import re
import threading
import time

from conftest import (
    Button,
    alert_summary,
    keygen,
    make_serial_gateway,
    receiver_alerts,
    rfc3339_to_ns,
    start_gateway,
    start_receiver,
    wait_until,
)

# Quiet gaps between edges: well past the 20 ms debounce window.
GAP_S = 0.15


def line_device_toml(path: str, *, name: str = "box", heartbeat_timeout_ms: int | None = None,
                     buttons: list[tuple[str, str, str, int]]) -> str:
    """One line-protocol device at `path` and one input per (button, input name, kind, zone)."""
    hb = f"heartbeat_timeout_ms = {heartbeat_timeout_ms}\n" if heartbeat_timeout_ms is not None else ""
    out = f'''
[[serial_devices]]
name = "{name}"
protocol = "line"
path = "{path}"
baud = 115200
{hb}'''
    for button, input_name, kind, zone in buttons:
        out += f'''
[[inputs]]
name = "{input_name}"
kind = "{kind}"
zone = {zone}
debounce = {{ mode = "immediate", window_ms = 20 }}
source = {{ type = "serial", device = "{name}", button = "{button}" }}
'''
    return out


def start(tmp_path, procs, serial_toml: str):
    key = keygen(tmp_path / "gateway.key")
    rx = start_receiver(procs, tmp_path, [key.public_b64])
    setup = make_serial_gateway(tmp_path, rx.base_url, serial_toml, key=key)
    gw = start_gateway(procs, setup)
    return rx, setup, gw


def wait_serial_open(gw, path: str, timeout: float = 5):
    """The gateway logs `serial device open` with the device's path."""
    wait_until(lambda: "serial device open" in gw.stderr() and path in gw.stderr(), timeout,
               f"gateway to open the serial device {path}", diagnostics=gw.describe)


def wait_alerts(rx, gw, count: int, timeout: float, what: str) -> list[dict]:
    return wait_until(lambda: (a := receiver_alerts(rx.database)) and len(a) >= count and a, timeout, what,
                      diagnostics=lambda: f"alerts: {alert_summary(receiver_alerts(rx.database))}\n{gw.describe()}\n"
                                          f"{rx.proc.describe()}")


def assert_no_more_alerts(rx, expected: int, settle_s: float = 1.0) -> list[dict]:
    """Waits `settle_s` and checks that nothing beyond `expected` arrived."""
    time.sleep(settle_s)
    alerts = receiver_alerts(rx.database)
    assert len(alerts) == expected, f"expected {expected} alerts, got {len(alerts)}: {alert_summary(alerts)}"
    return alerts


def test_presses_and_releases_of_two_buttons_on_one_device(tmp_path, procs, pty_devices):
    dev = pty_devices()
    rx, setup, gw = start(tmp_path, procs, line_device_toml(dev.path, buttons=[
        ("1", "box-1", "panic", 601),
        ("2", "box-2", "duress", 602),
    ]))
    wait_serial_open(gw, dev.path)

    for line in ["BTN 1 PRESS", "BTN 1 RELEASE", "BTN 2 PRESS", "BTN 2 RELEASE",
                 "BTN 2 PRESS", "BTN 1 PRESS", "BTN 1 RELEASE", "BTN 2 RELEASE"]:
        dev.line(line)
        time.sleep(GAP_S)

    alerts = wait_alerts(rx, gw, 8, 15, "8 alerts from the two serial buttons")
    assert [(a["kind"], a["input"], a["zone"], a.get("restores")) for a in alerts] == [
        ("panic", "box-1", 601, None),
        ("restore", "box-1", 601, "panic"),
        ("duress", "box-2", 602, None),
        ("restore", "box-2", 602, "duress"),
        ("duress", "box-2", 602, None),
        ("panic", "box-1", 601, None),
        ("restore", "box-1", 601, "panic"),
        ("restore", "box-2", 602, "duress"),
    ], alert_summary(alerts)
    assert [a["sequence"] for a in alerts] == list(range(1, 9))
    assert all(a["test"] is False for a in alerts)
    assert_no_more_alerts(rx, 8, settle_s=0.5)
    assert gw.alive(), gw.describe()


def test_heartbeat_silence_raises_trouble_and_resuming_restores(tmp_path, procs, pty_devices):
    dev = pty_devices()
    rx, setup, gw = start(tmp_path, procs, line_device_toml(dev.path, heartbeat_timeout_ms=500, buttons=[
        ("1", "hb-1", "panic", 611),
    ]))
    wait_serial_open(gw, dev.path)

    # Heartbeats every 100 ms for 2 s: no trouble (the timeout is 500 ms).
    for _ in range(20):
        dev.line("HB")
        time.sleep(0.1)
    assert receiver_alerts(rx.database) == [], alert_summary(receiver_alerts(rx.database))

    last_hb_ns = time.time_ns()
    dev.line("HB")  # the last one; then silence
    alerts = wait_alerts(rx, gw, 1, 5, "a trouble alert after 500 ms of heartbeat silence")
    trouble = alerts[0]
    assert (trouble["kind"], trouble["input"], trouble["zone"]) == ("trouble", "hb-1", 611), alert_summary(alerts)
    assert "silent" in trouble.get("detail", ""), trouble
    silent_for_s = (rfc3339_to_ns(trouble["occurred_at"]) - last_hb_ns) / 1e9
    assert 0.45 <= silent_for_s <= 1.5, f"trouble raised {silent_for_s:.3f} s after the last heartbeat (timeout 0.5 s)"
    arrived_after_s = (trouble["received_at_ns"] - last_hb_ns) / 1e9
    assert arrived_after_s <= 2.0, f"trouble reached the receiver {arrived_after_s:.3f} s after the last heartbeat"

    # Still silent: one trouble, not one per timeout.
    assert_no_more_alerts(rx, 1, settle_s=1.5)

    # Heartbeats resume: the trouble is restored.
    resumed_ns = time.time_ns()
    for _ in range(5):
        dev.line("HB")
        time.sleep(0.1)
    alerts = wait_alerts(rx, gw, 2, 5, "a restore once heartbeats resume")
    restore = alerts[1]
    assert (restore["kind"], restore["input"], restore["zone"], restore.get("restores")) == \
        ("restore", "hb-1", 611, "trouble"), alert_summary(alerts)
    assert (restore["received_at_ns"] - resumed_ns) / 1e9 <= 2.0

    # A press on the supervised device still works after the trouble.
    dev.line("BTN 1 PRESS")
    time.sleep(GAP_S)
    dev.line("BTN 1 RELEASE")
    for _ in range(3):
        dev.line("HB")
        time.sleep(0.1)
    alerts = wait_alerts(rx, gw, 4, 5, "panic and restore after the trouble ended")
    assert [(a["kind"], a["input"], a.get("restores")) for a in alerts] == [
        ("trouble", "hb-1", None), ("restore", "hb-1", "trouble"),
        ("panic", "hb-1", None), ("restore", "hb-1", "panic"),
    ], alert_summary(alerts)
    assert gw.alive(), gw.describe()


def test_garbage_raises_no_alarm_and_a_valid_press_still_arrives(tmp_path, procs, pty_devices):
    dev = pty_devices()
    rx, setup, gw = start(tmp_path, procs, line_device_toml(dev.path, buttons=[
        ("1", "g-1", "panic", 621),
        ("2", "g-2", "panic", 622),
    ]))
    wait_serial_open(gw, dev.path)
    started = time.monotonic()

    # Binary noise with no newline in it, then its end.
    noise = bytes(b for b in os.urandom(8192) if b != 0x0A)
    dev.write(noise)
    dev.write(b"\n")
    # Invalid UTF-8, including a line that would be a press if it decoded.
    dev.write(b"\xff\xfe\xfd\n")
    dev.write(b"BTN 1 PR\xc3ESS\n")
    dev.write(b"\xc0\xafBTN 1 PRESS\n")
    dev.write(b"BTN 1 PRESS\xed\xa0\x80\n")  # an encoded surrogate
    # Lines that are not the protocol, or name buttons that are not configured.
    for text in ["BTN 9 PRESS", "BTN 9 RELEASE", "BTN foo PRESS", "BTN 1 2 PRESS", "BTN  PRESS", "BTN 1 PUSH",
                 "btn 1 press", "BTN 1 PRESS NOW", "BTN 1", "PRESS", "HBX", "BTN 1/2 PRESS", "BTN 1é PRESS",
                 "\x00\x01\x02", "BTN\t1\tPRESS"]:
        dev.write(text.encode() + b"\n")
    # A partial frame that stalls, then more: a 5 KiB line (over the 1 KiB
    # bound) arriving in pieces without a newline; the press line inside it
    # belongs to the over-long line and must be dropped with it.
    dev.write(b"A" * 2048)
    time.sleep(0.2)
    dev.write(b"B" * 3072 + b"BTN 2 PRESS")
    time.sleep(0.2)
    dev.write(b"\n")
    time.sleep(0.5)
    assert receiver_alerts(rx.database) == [], \
        f"garbage raised alerts: {alert_summary(receiver_alerts(rx.database))}"
    assert gw.alive(), gw.describe()

    # The valid press right after all that arrives, and only it.
    press_ns = time.time_ns()
    dev.write(b"BTN 1 PRESS\r\n")
    alerts = wait_alerts(rx, gw, 1, 5, "the valid press after the garbage")
    assert [(a["kind"], a["input"], a["zone"]) for a in alerts] == [("panic", "g-1", 621)], alert_summary(alerts)
    assert (alerts[0]["received_at_ns"] - press_ns) / 1e9 <= 1.0, "the press after the garbage was slow"
    time.sleep(GAP_S)
    dev.line("BTN 1 RELEASE")
    alerts = wait_alerts(rx, gw, 2, 5, "the release after the garbage")
    assert [(a["kind"], a["input"], a.get("restores")) for a in alerts] == [
        ("panic", "g-1", None), ("restore", "g-1", "panic")], alert_summary(alerts)
    assert_no_more_alerts(rx, 2, settle_s=0.5)
    assert gw.alive(), gw.describe()

    # Counted and logged, but at a limited rate (not one log line per bad line).
    err = gw.stderr()
    complaints = len(re.findall(r"serial input rejected", err))
    elapsed = time.monotonic() - started
    assert complaints >= 1, f"bad input was not logged at all:\n{err[-3000:]}"
    assert complaints <= elapsed + 2, f"{complaints} rejection log lines in {elapsed:.1f} s: not rate-limited"


def test_flood_on_a_serial_device_does_not_stall_another_input(tmp_path, procs, pty_devices):
    dev = pty_devices()
    rx, setup, gw = start(tmp_path, procs, line_device_toml(dev.path, buttons=[
        ("1", "fl-1", "panic", 631),
    ]))
    wait_serial_open(gw, dev.path)
    button = Button(setup.fifo)

    flood_min_bytes = 2 * 1024 * 1024
    flood_min_s = 2.0
    stop = threading.Event()
    result: dict = {}

    def flood():
        # Random bytes (newlines included: most lines are junk, some over-long),
        # as fast as the gateway takes them, for at least 2 MB and 2 s.
        block = os.urandom(64 * 1024)
        sent = 0
        t0 = time.monotonic()
        try:
            while (sent < flood_min_bytes or time.monotonic() - t0 < flood_min_s or not stop.is_set()) \
                    and time.monotonic() - t0 < 60:
                dev.write(block, timeout=10)
                sent += len(block)
                block = block[1:] + block[:1]
        except BaseException as e:  # reported by the main thread
            result["error"] = repr(e)
        result["sent"] = sent
        result["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    latencies = []
    try:
        wait_until(lambda: dev.written >= 256 * 1024 or not t.is_alive(), 10, "the flood to get going")
        # Three presses of the simulated button while the flood goes on.
        for n in range(1, 4):
            assert t.is_alive(), f"the flood ended before press {n}: {result}"
            written_before = dev.written
            press_ns = time.time_ns()
            button.press()
            alerts = wait_alerts(rx, gw, 2 * n - 1, 5, f"the simulated button's panic {n} during the flood")
            assert dev.written > written_before, "the flood was not flowing while the press was handled"
            latencies.append((alerts[-1]["received_at_ns"] - press_ns) / 1e9)
            assert (alerts[-1]["kind"], alerts[-1]["input"], alerts[-1]["zone"]) == ("panic", "btn", 501), \
                alert_summary(alerts)
            assert latencies[-1] <= 1.0, f"press {n} on another input took {latencies[-1]:.3f} s during the flood"
            time.sleep(0.1)
            button.release()
            wait_alerts(rx, gw, 2 * n, 5, f"the simulated button's restore {n} during the flood")
            time.sleep(0.2)
    finally:
        stop.set()
        t.join(timeout=70)
        button.close()
    assert not t.is_alive(), "flood writer did not finish"
    assert "error" not in result, f"the gateway stopped taking the flood: {result}"
    assert result["sent"] >= flood_min_bytes, result

    # Back to normal: the flooded device works, no false alarm came of the noise.
    time.sleep(0.3)
    dev.write(b"\n")  # end whatever junk line the flood left open
    dev.line("BTN 1 PRESS")
    alerts = wait_alerts(rx, gw, 7, 10, "a press on the flooded device after the flood")
    summary = [(a["kind"], a["input"], a["zone"]) for a in alerts]
    assert summary == [("panic", "btn", 501), ("restore", "btn", 501)] * 3 + [("panic", "fl-1", 631)], \
        alert_summary(alerts)
    assert_no_more_alerts(rx, 7, settle_s=0.5)
    assert gw.alive(), gw.describe()
    print(f"flood: {result['sent']} bytes in {result['seconds']:.2f} s; presses on the other input arrived in "
          f"{', '.join(f'{x * 1000:.0f}' for x in latencies)} ms")


def test_device_closed_raises_trouble_within_a_second(tmp_path, procs, pty_devices):
    dev = pty_devices()
    rx, setup, gw = start(tmp_path, procs, line_device_toml(dev.path, buttons=[
        ("1", "u-1", "panic", 641),
        ("2", "u-2", "tamper", 642),
    ]))
    wait_serial_open(gw, dev.path)
    dev.line("BTN 1 PRESS")
    time.sleep(GAP_S)
    dev.line("BTN 1 RELEASE")
    wait_alerts(rx, gw, 2, 5, "a press before the unplug")

    unplug_ns = time.time_ns()
    dev.unplug()
    alerts = wait_alerts(rx, gw, 4, 5, "trouble for both inputs once the device side closed")
    troubles = alerts[2:]
    assert sorted((a["kind"], a["input"], a["zone"]) for a in troubles) == [
        ("trouble", "u-1", 641), ("trouble", "u-2", 642)], alert_summary(alerts)
    for a in troubles:
        assert re.search(r"unplugged|hang-?up|removed|end of file", a.get("detail", "")), a
        assert (a["received_at_ns"] - unplug_ns) / 1e9 <= 1.0, \
            f"trouble reached the receiver {(a['received_at_ns'] - unplug_ns) / 1e9:.3f} s after the unplug"
    # One trouble per input while the device stays away; the gateway lives on.
    assert_no_more_alerts(rx, 4, settle_s=2.5)
    assert gw.alive(), gw.describe()

    # The other inputs are not affected.
    button = Button(setup.fifo)
    try:
        button.click()
    finally:
        button.close()
    alerts = wait_alerts(rx, gw, 6, 5, "the simulated button after the unplug")
    assert [(a["kind"], a["input"]) for a in alerts[4:]] == [("panic", "btn"), ("restore", "btn")]

    # The device returns at the same path (the kernel hands out the lowest
    # free pty number): reopened, its trouble restored, its buttons work.
    old_path = dev.path
    dev.close()
    back = None
    spare = []
    try:
        for _ in range(64):
            d = pty_devices()
            if d.path == old_path:
                back = d
                break
            spare.append(d)
    finally:
        for d in spare:
            d.close()
    assert back is not None, f"could not get a pty at {old_path} again to bring the device back"
    returned_ns = time.time_ns()
    alerts = wait_alerts(rx, gw, 8, 5, "restore of trouble once the device is back")
    assert sorted((a["kind"], a["input"], a.get("restores")) for a in alerts[6:]) == [
        ("restore", "u-1", "trouble"), ("restore", "u-2", "trouble")], alert_summary(alerts)
    for a in alerts[6:]:
        assert (a["received_at_ns"] - returned_ns) / 1e9 <= 2.0, "the returned device was not reopened promptly"
    back.line("BTN 2 PRESS")
    alerts = wait_alerts(rx, gw, 9, 5, "a press on the returned device")
    assert (alerts[8]["kind"], alerts[8]["input"], alerts[8]["zone"]) == ("tamper", "u-2", 642), alert_summary(alerts)
    assert_no_more_alerts(rx, 9, settle_s=0.5)
    assert gw.alive(), gw.describe()


def test_configured_device_that_never_appears_is_trouble_after_its_grace_period(tmp_path, procs):
    # Identified by what it is (no such adapter on this machine): found
    # through hotplug or never. absent_grace_s = 2.
    serial_toml = '''
[[serial_devices]]
name = "fob"
protocol = "line"
vendor_id = "0403"
product_id = "6001"
serial = "NOSUCH01"
absent_grace_s = 2

[[inputs]]
name = "fob-1"
kind = "panic"
zone = 651
source = { type = "serial", device = "fob", button = "1" }
'''
    key = keygen(tmp_path / "gateway.key")
    rx = start_receiver(procs, tmp_path, [key.public_b64])
    setup = make_serial_gateway(tmp_path, rx.base_url, serial_toml, key=key)
    launched_ns = time.time_ns()
    gw = start_gateway(procs, setup)
    running_ns = time.time_ns()

    alerts = wait_alerts(rx, gw, 1, 10, "trouble for the device that never appeared")
    a = alerts[0]
    assert (a["kind"], a["input"], a["zone"]) == ("trouble", "fob-1", 651), alert_summary(alerts)
    assert "not found within 2 s" in a.get("detail", ""), a
    occurred = rfc3339_to_ns(a["occurred_at"])
    assert occurred - launched_ns >= 1.9e9, f"trouble {(occurred - launched_ns) / 1e9:.2f} s after launch: before the grace period"
    assert occurred - running_ns <= 3.0e9, f"trouble {(occurred - running_ns) / 1e9:.2f} s after start: grace is 2 s"
    assert_no_more_alerts(rx, 1, settle_s=1.0)
    assert gw.alive(), gw.describe()
