"""USB-serial inputs, Modbus RTU discrete inputs, against pymodbus.

pymodbus (an independent Modbus implementation) serves as a real RTU slave
on one end of a socat-bridged pty pair; the gateway's `protocol = "modbus"`
device polls it (function 0x02) on the other end. The slave's datastore is
changed from the test process, and the slave is stopped and started again.
Every alert is checked in a real panic-receiver's SQLite database."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import (
    alert_summary,
    keygen,
    make_serial_gateway,
    receiver_alerts,
    start_gateway,
    start_receiver,
    wait_until,
)

try:
    from pymodbus.server import ModbusSerialServer
    from pymodbus.simulator import DataType, SimData, SimDevice
except ImportError as e:  # fail loudly rather than skip
    raise ImportError(f"pymodbus is required for the Modbus integration tests "
                      f"(pip install pymodbus pyserial into the test venv): {e}") from e

BAUD = 115200
DI_COUNT = 16


class ModbusSlaves:
    """pymodbus RTU server for some slave ids on `port`, on an asyncio loop in
    a background thread of the test process, so its discrete inputs can be
    changed from the test. `stop()` closes the port (the slaves stop
    answering); `start()` opens it again with the same input values."""

    def __init__(self, port: Path, slave_ids: tuple[int, ...] = (1,)):
        self.port = port
        self.slave_ids = slave_ids
        self.values = {s: [False] * DI_COUNT for s in slave_ids}
        self.requests: list[tuple[float, int]] = []  # (monotonic, slave id) of each request decoded
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.server = None

    def _devices(self) -> list:
        def bits(values):
            return [SimData(0, values=list(values), datatype=DataType.BITS)]
        return [SimDevice(id=s, simdata=(bits([False] * DI_COUNT), bits(self.values[s]),
                                          [SimData(0, count=DI_COUNT, values=0, datatype=DataType.REGISTERS)],
                                          [SimData(0, count=DI_COUNT, values=0, datatype=DataType.REGISTERS)]))
                for s in self.slave_ids]

    def _trace_pdu(self, sending: bool, pdu):
        if sending:
            return pdu
        with self.lock:
            self.requests.append((time.monotonic(), pdu.dev_id))
        # A request for an id this bus does not have gets no answer at all,
        # as on a real RS-485 line (pymodbus would answer it with an exception):
        # the request is dropped before the server handles it.
        return pdu if pdu.dev_id in self.slave_ids else None

    def start(self, timeout: float = 10) -> None:
        assert self.thread is None, "already running"
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(loop)

            async def serve():
                self.server = ModbusSerialServer(
                    self._devices(), port=str(self.port), baudrate=BAUD, timeout=1,
                    trace_pdu=self._trace_pdu)
                await self.server.serve_forever(background=True)

            try:
                loop.run_until_complete(serve())
            except BaseException as e:
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self.loop = loop
        self.thread = threading.Thread(target=run, name="pymodbus-rtu", daemon=True)
        self.thread.start()
        if not ready.wait(timeout):
            pytest.fail(f"pymodbus server on {self.port} did not start within {timeout} s")
        if errors:
            pytest.fail(f"pymodbus server on {self.port} failed to start: {errors[0]!r}")

    def _call(self, coro, timeout: float = 5):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def set_input(self, slave: int, address: int, value: bool) -> None:
        self.values[slave][address] = value
        if self.thread is not None:
            self._call(self.server.async_setValues(slave, 2, address, [value]))
            got = self._call(self.server.async_getValues(slave, 2, address, 1))
            assert list(got)[:1] == [value], f"datastore did not take DI {address} = {value}: {got}"

    def stop(self, timeout: float = 10) -> None:
        if self.thread is None:
            return
        try:
            self._call(self.server.shutdown(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)
            assert not self.thread.is_alive(), "pymodbus server thread did not end"
            self.thread = None
            self.server = None

    def requests_since(self, t: float, slave: int | None = None) -> int:
        with self.lock:
            return sum(1 for at, s in self.requests if at >= t and (slave is None or s == slave))


def start_pty_pair(procs, tmp_path: Path) -> tuple[Path, Path]:
    """Two ptys bridged by socat: (gateway side, slave side), as symlinks."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is required (Debian package `socat`) to bridge two ptys", pytrace=False)
    gw_side, slave_side = tmp_path / "tty-gateway", tmp_path / "tty-modbus-slave"
    p = procs.start("socat", [socat, "-d", "-d", f"pty,raw,echo=0,link={gw_side}", f"pty,raw,echo=0,link={slave_side}"])
    wait_until(lambda: gw_side.exists() and slave_side.exists() and "starting data transfer loop" in p.stderr(), 10,
               "socat to create both ptys", diagnostics=p.describe)
    return gw_side, slave_side


def modbus_toml(path: Path, inputs: list[tuple[str, str, int, int, int]], *, poll_ms: int = 20, timeout_ms: int = 50,
                fail_after: int = 3) -> str:
    """One Modbus device at `path` and (input name, kind, zone, slave, input address) inputs on it."""
    out = f'''
[[serial_devices]]
name = "bus"
protocol = "modbus"
path = "{path}"
baud = {BAUD}
poll_interval_ms = {poll_ms}
response_timeout_ms = {timeout_ms}
fail_after = {fail_after}
'''
    for name, kind, zone, slave, address in inputs:
        out += f'''
[[inputs]]
name = "{name}"
kind = "{kind}"
zone = {zone}
debounce = {{ mode = "immediate", window_ms = 20 }}
source = {{ type = "serial", device = "bus", slave = {slave}, input = {address} }}
'''
    return out


@pytest.fixture
def modbus_slaves():
    made: list[ModbusSlaves] = []

    def make(port: Path, slave_ids=(1,)) -> ModbusSlaves:
        s = ModbusSlaves(port, slave_ids)
        made.append(s)
        return s

    try:
        yield make
    finally:
        for s in made:
            try:
                s.stop()
            except Exception:
                pass


def start_all(tmp_path, procs, modbus_slaves, inputs, slave_ids=(1,)):
    gw_side, slave_side = start_pty_pair(procs, tmp_path)
    slaves = modbus_slaves(slave_side, slave_ids)
    slaves.start()
    key = keygen(tmp_path / "gateway.key")
    rx = start_receiver(procs, tmp_path, [key.public_b64])
    setup = make_serial_gateway(tmp_path, rx.base_url, modbus_toml(gw_side, inputs), key=key)
    gw = start_gateway(procs, setup)
    wait_until(lambda: "serial device open" in gw.stderr(), 5, "gateway to open the Modbus port", diagnostics=gw.describe)
    return slaves, rx, gw


def wait_alerts(rx, gw, count: int, timeout: float, what: str) -> list[dict]:
    return wait_until(lambda: (a := receiver_alerts(rx.database)) and len(a) >= count and a, timeout, what,
                      diagnostics=lambda: f"alerts: {alert_summary(receiver_alerts(rx.database))}\n{gw.describe()}")


def settle(rx, expected: int, seconds: float) -> list[dict]:
    time.sleep(seconds)
    alerts = receiver_alerts(rx.database)
    assert len(alerts) == expected, f"expected {expected} alerts, got {len(alerts)}: {alert_summary(alerts)}"
    return alerts


INPUTS_SLAVE1 = [
    ("mb-4", "panic", 701, 1, 4),
    ("mb-5", "duress", 702, 1, 5),
]


def test_discrete_input_alarm_restore_and_slave_outage(tmp_path, procs, modbus_slaves):
    slaves, rx, gw = start_all(tmp_path, procs, modbus_slaves, INPUTS_SLAVE1)

    # Polling at the configured 20 ms interval: answered polls every ~20 ms
    # plus the round trip; not hammering the bus either.
    t0 = time.monotonic()
    time.sleep(1.0)
    polls = slaves.requests_since(t0, slave=1)
    assert 20 <= polls <= 60, f"{polls} polls of slave 1 in 1 s with poll_interval_ms = 20"
    settle(rx, 0, 0.0)  # all inputs at 0: nothing to report

    # DI 4 → 1: panic on mb-4; back to 0: its restore.
    t = time.time_ns()
    slaves.set_input(1, 4, True)
    alerts = wait_alerts(rx, gw, 1, 5, "panic for DI 4")
    assert [(a["kind"], a["input"], a["zone"]) for a in alerts] == [("panic", "mb-4", 701)], alert_summary(alerts)
    assert (alerts[0]["received_at_ns"] - t) / 1e9 <= 1.0, "DI change took over a second to reach the receiver"
    time.sleep(0.15)
    slaves.set_input(1, 4, False)
    alerts = wait_alerts(rx, gw, 2, 5, "restore for DI 4")
    assert (alerts[1]["kind"], alerts[1]["input"], alerts[1].get("restores")) == ("restore", "mb-4", "panic")

    # DI 5 (duress, zone 702) the same way.
    slaves.set_input(1, 5, True)
    time.sleep(0.15)
    slaves.set_input(1, 5, False)
    alerts = wait_alerts(rx, gw, 4, 5, "duress and restore for DI 5")
    assert [(a["kind"], a["input"], a["zone"], a.get("restores")) for a in alerts[2:]] == [
        ("duress", "mb-5", 702, None), ("restore", "mb-5", 702, "duress")], alert_summary(alerts)
    settle(rx, 4, 0.3)

    # The slave stops answering: trouble for both of its inputs.
    slaves.stop()
    stopped_ns = time.time_ns()
    alerts = wait_alerts(rx, gw, 6, 5, "trouble for both inputs of the silent slave")
    troubles = alerts[4:]
    assert sorted((a["kind"], a["input"], a["zone"]) for a in troubles) == [
        ("trouble", "mb-4", 701), ("trouble", "mb-5", 702)], alert_summary(alerts)
    for a in troubles:
        assert re.search(r"Modbus slave 1 not answering", a.get("detail", "")), a
        late = (a["received_at_ns"] - stopped_ns) / 1e9
        assert late <= 1.0, f"trouble reached the receiver {late:.3f} s after the slave stopped"
    settle(rx, 6, 1.0)  # one trouble per input, not one per failed poll
    assert gw.alive(), gw.describe()

    # It answers again: the trouble is restored for both.
    slaves.start()
    restarted_ns = time.time_ns()
    alerts = wait_alerts(rx, gw, 8, 5, "restore of trouble once the slave answers again")
    restores = alerts[6:]
    assert sorted((a["kind"], a["input"], a.get("restores")) for a in restores) == [
        ("restore", "mb-4", "trouble"), ("restore", "mb-5", "trouble")], alert_summary(alerts)
    for a in restores:
        late = (a["received_at_ns"] - restarted_ns) / 1e9
        assert late <= 1.0, f"restore reached the receiver {late:.3f} s after the slave came back"
    settle(rx, 8, 0.5)  # the slave came back with its inputs at 0: no spurious press
    print(f"modbus: {polls} polls/s; trouble after "
          f"{max((a['received_at_ns'] - stopped_ns) / 1e6 for a in troubles):.0f} ms, restore after "
          f"{max((a['received_at_ns'] - restarted_ns) / 1e6 for a in restores):.0f} ms")

    # And its inputs work again.
    slaves.set_input(1, 4, True)
    alerts = wait_alerts(rx, gw, 9, 5, "panic for DI 4 after the outage")
    assert (alerts[8]["kind"], alerts[8]["input"]) == ("panic", "mb-4"), alert_summary(alerts)
    assert gw.alive(), gw.describe()


def test_a_silent_slave_does_not_block_another_on_the_same_bus(tmp_path, procs, modbus_slaves):
    slaves, rx, gw = start_all(tmp_path, procs, modbus_slaves, INPUTS_SLAVE1 + [("mb2-0", "panic", 703, 2, 0)])

    # Slave 2 never answers: trouble for its input only.
    alerts = wait_alerts(rx, gw, 1, 5, "trouble for the input of slave 2")
    assert [(a["kind"], a["input"], a["zone"]) for a in alerts] == [("trouble", "mb2-0", 703)], alert_summary(alerts)
    assert "Modbus slave 2 not answering" in alerts[0].get("detail", ""), alerts[0]
    settle(rx, 1, 1.0)

    # Slave 1 is still polled, often, while slave 2 times out every cycle.
    t0 = time.monotonic()
    time.sleep(1.0)
    polls1, polls2 = slaves.requests_since(t0, slave=1), slaves.requests_since(t0, slave=2)
    assert polls1 >= 8, f"slave 1 polled {polls1} times in 1 s while slave 2 was silent (slave 2: {polls2})"

    # A press on slave 1 arrives promptly.
    t = time.time_ns()
    slaves.set_input(1, 4, True)
    alerts = wait_alerts(rx, gw, 2, 5, "panic on slave 1 while slave 2 is in trouble")
    assert (alerts[1]["kind"], alerts[1]["input"], alerts[1]["zone"]) == ("panic", "mb-4", 701), alert_summary(alerts)
    late = (alerts[1]["received_at_ns"] - t) / 1e9
    assert late <= 1.0, f"slave 1's press took {late:.3f} s with slave 2 silent"
    time.sleep(0.15)
    slaves.set_input(1, 4, False)
    alerts = wait_alerts(rx, gw, 3, 5, "restore on slave 1")
    assert (alerts[2]["kind"], alerts[2]["input"], alerts[2].get("restores")) == ("restore", "mb-4", "panic")
    settle(rx, 3, 0.5)  # slave 1's inputs never in trouble, slave 2's only once
    print(f"modbus, slave 2 silent: slave 1 {polls1} polls/s, slave 2 {polls2} polls/s; "
          f"slave 1 press arrived after {late * 1000:.0f} ms")
    assert gw.alive(), gw.describe()
