"""Host side of gateway-modbus: a pymodbus RTU server (slave 1, discrete inputs 0-15) on
the pty behind QEMU's usb-serial chardev "mb", driven by the guest's "host-do" markers:
add (QMP device_add), flip1/flip0 (discrete input 4), stop/start (the server). Every
request the server answers is recorded (host time, value of input 4). A holder fd keeps
the pty's slave side open throughout, so QEMU never sees a hang-up (that would unplug the
USB device): stopping the server silences the slave, nothing else. Writes key=value
lines (host clock, ms) to $HIL_RESULTS."""
import asyncio
import os
import threading
import time
import tty

from hostlib import QMP, Console, emit, percentile
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

sock_dir = os.environ["HIL_SOCK"]
results = os.environ["HIL_RESULTS"]
con = Console(os.environ["HIL_CONSOLE"])
BAUD = 19200
state = {"di4": 0}
polls = []          # (host monotonic, value of input 4 answered, start address, count)


async def action(fc, start, address, count, registers, values):
    # Discrete inputs, bit addressing: registers[0] holds inputs 0-15, input 4 is bit 4.
    if fc == 2:
        registers[0] = (registers[0] & ~(1 << 4)) | (state["di4"] << 4)
        polls.append((time.monotonic(), state["di4"], address, count))
    return None


def device():
    bits = lambda: [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    regs = lambda: [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)]
    return SimDevice(id=1, simdata=(bits(), bits(), regs(), regs()), action=action)


class Server:
    """pymodbus' asyncio server on its own thread, started and stopped on demand."""

    def __init__(self, port):
        self.port, self.server = port, None
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self):
        async def go():
            self.server = ModbusSerialServer(device(), port=self.port, baudrate=BAUD, reconnect_delay=0.2)
            await self.server.serve_forever(background=True)
        self._call(go())

    def stop(self):
        async def go():
            await self.server.shutdown()
        self._call(go())
        self.server = None


def ms(a, b):
    return "%.1f" % ((b - a) * 1000)


qmp = QMP(os.path.join(sock_dir, "qmp.sock"), timeout=30)
server = holder = None
marks = {}
while True:
    m, _ = con.wait_for(r"@@HIL host-do action=(\w+) n=(\d+)|@@HIL-EXIT", 120)
    if m.group(1) is None:
        break
    action_, n = m.group(1), m.group(2)
    done = r"@@HIL done action=%s n=%s " % (action_, n)
    t0 = time.monotonic()
    marks["%s%s" % (action_, n)] = t0
    if action_ == "add":
        pty = next((c["filename"] for c in qmp.execute("query-chardev") if c["label"] == "mb"), "")
        if not pty.startswith("pty:"):
            raise SystemExit("chardev mb is not a pty: %r" % pty)
        path = pty[4:]
        # The holder: raw at once (a cooked pty echoes what QEMU writes back to the guest).
        holder = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(holder)
        server = Server(path)
        server.start()
        emit(results, pty=path, server_start_ms=ms(t0, time.monotonic()))
        t0 = time.monotonic()
        qmp.execute("device_add", driver="usb-serial", id="io%s" % n, chardev="mb", bus="xhci.0")
        _, t_up = con.wait_for(r"@@HIL node-up n=%s " % n, 30)
        _, t_open = con.wait_for(r"@@HIL gw-open n=%s " % n, 60)
        # The gateway polls at once on open: when the first and second requests came,
        # against the moment the host saw the guest's gw-open marker (console).
        ts = [p[0] for p in polls[:2]]
        emit(results, add_to_node_ms=ms(t0, t_up), first_polls_minus_open_seen_ms=",".join(ms(t_open, t) for t in ts) or "none")
    elif action_ in ("flip1", "flip0"):
        state["di4"] = int(action_[-1])
        _, t1 = con.wait_for(done, 30)
        first = next((p[0] for p in polls if p[0] >= t0 and p[1] == state["di4"]), None)
        emit(results, **{"%s_%s_to_rx_seen_ms" % (action_, n): ms(t0, t1),
                         "%s_%s_to_poll_ms" % (action_, n): ms(t0, first) if first else "none"})
    elif action_ == "stop":
        server.stop()
        t_stopped = time.monotonic()
        _, t1 = con.wait_for(done, 30)
        last = max((p[0] for p in polls), default=t0)
        emit(results, stop_to_trouble_seen_ms=ms(t_stopped, t1), stop_ms=ms(t0, t_stopped),
             last_poll_before_stop_ms=ms(last, t_stopped))
    elif action_ == "start":
        server.start()
        t_started = time.monotonic()
        _, t1 = con.wait_for(done, 30)
        first = next((p[0] for p in polls if p[0] >= t_started), None)
        emit(results, start_to_restore_seen_ms=ms(t_started, t1),
             start_to_first_poll_ms=ms(t_started, first) if first else "none")
    else:
        raise SystemExit("unknown host-do action %r" % action_)

# Poll rate while serving, from the first answered request to the stop, and after the restart.
def rate(lo, hi):
    ts = [p[0] for p in polls if lo <= p[0] <= hi]
    if len(ts) < 2:
        return "none", "none", "none", len(ts)
    gaps = [(b - a) * 1000 for a, b in zip(ts, ts[1:])]
    return "%.1f" % ((len(ts) - 1) / (ts[-1] - ts[0])), "%.1f" % percentile(gaps, 50), "%.1f" % max(gaps), len(ts)

first = polls[0][0] if polls else 0
r1 = rate(first, marks.get("stop1", time.monotonic()))
r2 = rate(marks.get("start1", time.monotonic()), time.monotonic())
bad = sorted({(p[2], p[3]) for p in polls if (p[2], p[3]) != (4, 1)})
emit(results, polls=len(polls), poll_rate_hz=r1[0], poll_gap_ms_p50=r1[1], poll_gap_ms_max=r1[2], polls_before_stop=r1[3],
     poll_rate_after_restart_hz=r2[0], other_requests=",".join("%d+%d" % b for b in bad) or "none")
if server is not None and server.server is not None:
    server.stop()
if holder is not None:
    os.close(holder)
print("host driver done: %d polls answered" % len(polls))
