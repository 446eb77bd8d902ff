"""`panicctl devices`: the hardware as found, without the daemon.

This machine has no USB serial adapters (and may have no GPIO chips), so the
listing itself is checked against sysfs, and the configured-but-missing
marks against a configuration naming devices that are not there."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import binary, make_serial_gateway, run

USB_FIELDS = {"devnode", "vendor_id", "product_id", "serial", "interface", "port_path", "manufacturer", "product",
              "driver", "by_id", "configured_as"}


def usb_serial_nodes_in_sysfs() -> set[str]:
    """/dev nodes of tty devices that sit on a USB interface."""
    nodes = set()
    base = Path("/sys/class/tty")
    if not base.is_dir():
        return nodes
    for tty in base.iterdir():
        dev = tty / "device"
        if dev.exists() and "/usb" in os.path.realpath(dev):
            nodes.add(f"/dev/{tty.name}")
    return nodes


def test_devices_runs_without_daemon_and_json_is_valid(tmp_path):
    missing_cfg = str(tmp_path / "no-such-config.toml")  # no config: just the hardware
    text = run([binary("panicctl"), "devices", "--config", missing_cfg], timeout=30)
    assert text.returncode == 0, f"panicctl devices failed ({text.returncode}):\n{text.stdout}\n{text.stderr}"
    assert "GPIO" in text.stdout, text.stdout
    assert "USB serial" in text.stdout, f"no USB serial section:\n{text.stdout}"

    js = run([binary("panicctl"), "devices", "--json", "--config", missing_cfg], timeout=30)
    assert js.returncode == 0, f"panicctl devices --json failed ({js.returncode}):\n{js.stderr}"
    doc = json.loads(js.stdout)
    assert isinstance(doc, dict), doc
    assert {"gpio_chips", "libgpiod", "configured_missing", "usb_serial", "udevd_running"} <= set(doc), sorted(doc)
    assert isinstance(doc["gpio_chips"], list)
    assert isinstance(doc["libgpiod"], str) and doc["libgpiod"]
    assert doc["configured_missing"] == [], doc["configured_missing"]
    assert isinstance(doc["udevd_running"], bool)
    assert doc["udevd_running"] == os.path.exists("/run/udev/control"), doc["udevd_running"]

    # GPIO chips as the kernel has them.
    chips = {c["path"] for c in doc["gpio_chips"]}
    assert chips == {str(p) for p in Path("/dev").glob("gpiochip*")}, chips
    for c in doc["gpio_chips"]:
        assert {"path", "name", "label", "lines"} <= set(c), c

    # USB serial devices as sysfs has them (none on this machine), with their identity.
    usb = doc["usb_serial"]
    assert isinstance(usb, list)
    assert {d["devnode"] for d in usb} == usb_serial_nodes_in_sysfs(), usb
    for d in usb:
        assert USB_FIELDS <= set(d), d
        assert isinstance(d["by_id"], list)
        assert all(link.startswith("/dev/serial/by-id/") for link in d["by_id"]), d
        assert len(d["vendor_id"]) == 4 and len(d["product_id"]) == 4, d
    if not usb:
        assert "no USB serial devices found" in text.stdout, text.stdout


def test_devices_marks_configured_serial_devices_that_are_missing(tmp_path):
    master, slave = os.openpty()
    try:
        present = os.ttyname(slave)
        serial_toml = f'''
[[serial_devices]]
name = "fob"
protocol = "line"
vendor_id = "0403"
product_id = "6001"
serial = "NOSUCH01"

[[serial_devices]]
name = "gone"
protocol = "line"
path = "/dev/ttyNOSUCH0"

[[serial_devices]]
name = "here"
protocol = "line"
path = "{present}"

[[inputs]]
name = "fob-1"
kind = "panic"
zone = 801
source = {{ type = "serial", device = "fob", button = "1" }}

[[inputs]]
name = "gone-1"
kind = "panic"
zone = 802
source = {{ type = "serial", device = "gone", button = "1" }}

[[inputs]]
name = "here-1"
kind = "panic"
zone = 803
source = {{ type = "serial", device = "here", button = "1" }}
'''
        setup = make_serial_gateway(tmp_path, "http://127.0.0.1:9", serial_toml)
        check = run([binary("panicctl"), "config", "check", str(setup.config)], timeout=30)
        assert check.returncode == 0, f"the test's configuration is refused:\n{check.stdout}\n{check.stderr}"

        js = run([binary("panicctl"), "devices", "--json", "--config", str(setup.config)], timeout=30)
        assert js.returncode == 0, f"panicctl devices --json failed ({js.returncode}):\n{js.stderr}"
        doc = json.loads(js.stdout)
        missing = doc["configured_missing"]
        assert any(m.startswith("fob:") and "0403:6001" in m and "NOSUCH01" in m for m in missing), missing
        assert any(m.startswith("gone:") and "/dev/ttyNOSUCH0" in m for m in missing), missing
        assert not any(m.startswith("here:") for m in missing), f"{present} exists but is reported missing: {missing}"

        text = run([binary("panicctl"), "devices", "--config", str(setup.config)], timeout=30)
        assert text.returncode == 0, text.stderr
        assert "CONFIGURED BUT MISSING  fob" in text.stdout, text.stdout
        assert "CONFIGURED BUT MISSING  gone" in text.stdout, text.stdout
        assert "CONFIGURED BUT MISSING  here" not in text.stdout, text.stdout
    finally:
        os.close(master)
        os.close(slave)
