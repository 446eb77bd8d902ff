"""The daemon's control socket, spoken to directly from Python: JSON lines,
version 1 (request `{"v":1,"cmd":…,"args":{…}}`, events `{"v":1,"event":…}`,
final reply `{"v":1,"ok":…,"done":true,"result"|"error":…}`).

What is checked: the protocol itself; that garbage, oversized requests,
wrong versions and unknown commands get error replies and cannot crash the
daemon; that clients vanishing mid-stream free their slot; the limit of 16
clients; SO_PEERCRED refusing a user outside the group; and that a stalled
`watch` client does not delay alerts (press → receiver latency)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import termios
import time

from conftest import (
    AS_NOBODY,
    CONTROL_COMMANDS,
    Button,
    ControlConn,
    control_status,
    panicctl,
    receiver_rows,
    start_control_bench,
    wait_until,
)

MAX_CLIENTS = 16
MAX_REQUEST = 64 * 1024


def assert_error(reply, *needles):
    assert reply is not None, "connection closed without an error reply"
    assert reply.get("v") == 1 and reply.get("ok") is False and isinstance(reply.get("error"), str), reply
    for n in needles:
        assert n in reply["error"], f"error {reply['error']!r} does not mention {n!r}"


def assert_serving(bench):
    assert bench.gateway.alive(), f"the daemon died\n{bench.gateway.describe()}"
    t0 = time.monotonic()
    st = control_status(bench.socket, timeout=5)
    assert st["gateway_id"] == "gw-test"
    return time.monotonic() - t0


# ---------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------

def test_protocol_replies_and_watch_events(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    c = ControlConn(bench.socket)
    try:
        reply = c.request("status")
        assert reply["v"] == 1 and reply["ok"] is True and reply["done"] is True and "error" not in reply, reply
        assert {"inputs", "uplinks", "queue", "clock", "uptime_s"} <= set(reply["result"])

        # Several requests on one connection.
        clk = c.request("clock")
        assert clk["ok"] is True and set(clk["result"]) == {"synchronized", "estimated_error_us", "maximum_error_us"}
        q = c.request("queue", {"limit": 5})
        assert q["ok"] is True and set(q["result"]) == {"summary", "pending"}, q
        assert c.request("queue-retry")["result"] == {"made_due": 0}
        assert_error(c.request("queue-show"), "queue-show needs")
        assert_error(c.request("queue-show", {"id": "12345"}), "no alert 12345")
        assert_error(c.request("watch", {"inputs": ["nosuch"]}), "no input named nosuch", "btn")
        assert_error(c.request("test", {"input": "nosuch"}), "no input named nosuch")
        # The connection is still good after error replies.
        assert c.request("status")["ok"] is True

        # watch: events first, each {"v":1,"event":{…}}, until the client leaves.
        c.send("watch", {"inputs": ["btn"]})
        first = c.read_line()
        assert first == {"v": 1, "event": {"type": "watching", "inputs": ["btn"]}}, first
        button = Button(bench.setup.fifo)
        try:
            button.click()
        finally:
            button.close()
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "release" not in [e["type"] for e in seen]:
            line = c.read_line(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None and set(line) == {"v", "event"} and line["v"] == 1, line
            seen.append(line["event"])
        types = [e["type"] for e in seen]
        assert types.count("edge") >= 2 and "press" in types and "release" in types, types
        for e in seen:
            if e["type"] == "edge":
                assert isinstance(e["mono_ns"], int) and e["wall"].endswith("Z"), e
            if e["type"] in ("press", "release"):
                assert e["decided_mono_ns"] >= e["first_edge_mono_ns"] and e["first_edge_wall"].endswith("Z"), e
    finally:
        c.close()
    assert_serving(bench)


# ---------------------------------------------------------------------------
# Malformed, oversized, wrong version, unknown command
# ---------------------------------------------------------------------------

def test_garbage_gets_an_error_and_the_connection_stays_usable(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    c = ControlConn(bench.socket)
    try:
        for junk in (b"\x00\xff\xfe garbage \x01\x02\n", b"not json at all\n", b"[1, 2, 3]\n", b"\"a string\"\n",
                     b"{\"v\": 1, \"cmd\": \n", b"\n", b"\xc3\x28{\"v\":1}\n"):
            c.send_raw(junk)
            reply = c.read_line()
            assert_error(reply, "malformed request")
        c.send_raw(b'{"v": 1}\n')
        assert_error(c.read_line(), "missing \"cmd\"")
        c.send_raw(b'{"v": 1, "cmd": 42}\n')
        assert_error(c.read_line(), "missing \"cmd\"")
        # Still usable for a valid request on the same connection.
        reply = c.request("status")
        assert reply["ok"] is True, reply
        # Several requests in one write are each answered, in order.
        c.send_raw(b'garbage\n{"v":1,"cmd":"clock"}\n{"v":1,"cmd":"status"}\n')
        assert_error(c.read_line(), "malformed")
        assert "synchronized" in c.read_line()["result"]
        assert "inputs" in c.read_line()["result"]
    finally:
        c.close()
    assert_serving(bench)


def test_request_over_64k_without_newline_gets_an_error_and_close(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    c = ControlConn(bench.socket)
    try:
        try:
            c.send_raw(b'{"v":1,"cmd":"status","args":{"pad":"' + b"x" * (100 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may hang up while we are still writing
        reply = c.read_line(timeout=10)
        assert_error(reply, "request larger than", str(MAX_REQUEST))
        assert c.at_eof(timeout=5), "the daemon kept the connection open after an oversized request"
    finally:
        c.close()

    # Just under the limit, with its newline: an ordinary request.
    c = ControlConn(bench.socket)
    try:
        pad = "y" * (MAX_REQUEST - 200)
        c.send("status", {"pad": pad})
        reply = c.final(timeout=10)[1]
        assert reply is not None and reply["ok"] is True, reply
    finally:
        c.close()
    assert_serving(bench)


def test_wrong_protocol_version_is_named_in_the_error(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    c = ControlConn(bench.socket)
    try:
        c.send("status", v=2)
        assert_error(c.read_line(), "unsupported protocol version 2", "v1")
        c.send("status", v="1")
        assert_error(c.read_line(), "unsupported protocol version", "v1")
        c.send_raw(b'{"cmd":"status"}\n')
        assert_error(c.read_line(), "unsupported protocol version none", "v1")
        assert c.request("status")["ok"] is True
    finally:
        c.close()
    assert_serving(bench)


def test_unknown_command_lists_the_known_ones(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    c = ControlConn(bench.socket)
    try:
        reply = c.request("reboot")
        assert_error(reply, 'unknown command "reboot"', "known:")
        known = reply["error"].split("known:", 1)[1]
        for cmd in CONTROL_COMMANDS:
            assert cmd in known, f"{cmd} missing from {reply['error']!r}"
        assert reply.get("done") is True
        assert c.request("status")["ok"] is True
    finally:
        c.close()
    assert_serving(bench)


# ---------------------------------------------------------------------------
# Clients that vanish; too many clients
# ---------------------------------------------------------------------------

def hold_clients(path, n):
    """Connects n clients at once and sorts them: (served, refused). A
    refused client is told so at once; a served one answers a status."""
    conns = [ControlConn(path) for _ in range(n)]
    time.sleep(0.5)  # a refusal is sent at once on accept
    served, refused = [], []
    for c in conns:
        c.sock.setblocking(False)
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            data = None
        except ConnectionResetError:
            data = b""
        c.sock.settimeout(5)
        if data is None:
            served.append(c)
        else:
            c.buf += data
            refused.append((c, c.read_line()))
    return conns, served, refused


def test_clients_vanishing_mid_stream_do_not_hurt_the_daemon(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    # 3 rounds of 10 watchers that leave: after the "watching" event, before
    # reading anything, and with a reset (SO_LINGER 0) instead of a clean
    # close. A vanished watcher is noticed within about half a second, so the
    # rounds are paced to stay under the 16-client limit.
    for round_ in range(3):
        for _ in range(10):
            c = ControlConn(bench.socket)
            c.send("watch")
            if round_ == 0:
                first = c.read_line()
                assert first is not None and first.get("event", {}).get("type") == "watching", first
            elif round_ == 2:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        time.sleep(1.0)
    # A guided test whose client leaves: test mode must end with it.
    c = ControlConn(bench.socket)
    c.send("test", {"input": "btn", "timeout_s": 60})
    ready = c.read_line()
    assert ready is not None and ready.get("event", {}).get("type") == "ready", ready
    assert bench.input()["test_mode"] is True
    c.close()
    wait_until(lambda: bench.input()["test_mode"] is False, 5, "test mode to end when the test's client left")

    # Every slot is free again: 16 clients at once are all served.
    def all_slots_free():
        conns, served, refused = hold_clients(bench.socket, MAX_CLIENTS)
        try:
            return len(served) == MAX_CLIENTS and all(s.request("status")["ok"] for s in served)
        finally:
            for x in conns:
                x.close()
    wait_until(all_slots_free, 5, f"{MAX_CLIENTS} simultaneous clients served after the others vanished", interval=0.5)

    # And alerts still flow.
    button = Button(bench.setup.fifo)
    try:
        button.click()
    finally:
        button.close()
    wait_until(lambda: [r["kind"] for r in receiver_rows(bench.receiver.database)] == ["panic", "restore"], 10,
               "the press and its restore at the receiver")
    assert_serving(bench)


def test_twenty_clients_at_once_sixteen_served_rest_told_too_many(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    time.sleep(0.5)  # the start-up status connections have been released
    conns, served, refused = hold_clients(bench.socket, 20)
    try:
        assert len(served) == MAX_CLIENTS and len(refused) == 20 - MAX_CLIENTS, (len(served), [r for _, r in refused])
        for c, reply in refused:
            assert_error(reply, "too many clients", str(MAX_CLIENTS))
            assert c.at_eof(timeout=2), "a refused client was left connected"
        for c in served:
            assert c.request("status")["ok"] is True
    finally:
        for c in conns:
            c.close()
    # Slots come back once the clients leave.
    wait_until(lambda: control_status(bench.socket, timeout=2), 5, "a new client served after the 20 left")
    assert_serving(bench)


# ---------------------------------------------------------------------------
# SO_PEERCRED
# ---------------------------------------------------------------------------

RAW_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        break
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
"""


def test_peer_outside_the_group_is_refused_on_a_world_writable_socket(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    os.chmod(bench.socket, 0o666)  # file permissions let anyone connect; SO_PEERCRED must not
    cp = subprocess.run(AS_NOBODY + ["/usr/bin/python3", "-c", RAW_CLIENT, str(bench.socket)],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, f"raw client as nobody failed: {cp.stderr}"
    lines = [json.loads(ln) for ln in cp.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one refusal line, then close; got {cp.stdout!r}"
    assert_error(lines[0], "permission denied", "uid 65534", 'not in group "root"')
    assert "result" not in lines[0]

    # panicctl as nobody turns it into exit 4 with the daemon's message.
    cp = panicctl("status", "--json", "--socket", str(bench.socket), as_nobody=True)
    assert cp.returncode == 4 and 'not in group "root"' in cp.stderr, f"{cp.returncode}\n{cp.stderr}"
    assert_serving(bench)


# ---------------------------------------------------------------------------
# A stalled watch client must not delay alerts
# ---------------------------------------------------------------------------

NOISE_TOML = '''
# A second simulated input whose rapid toggling fills a watcher's socket
# without ever being decided (stable mode, 1 s window; it ends at rest), so
# no alerts are queued ahead of the measured press.
[[inputs]]
name = "noise"
kind = "panic"
zone = 502
debounce = { mode = "stable", window_ms = 1000 }
source = { type = "simulated", fifo = "%s" }
'''


def unread_bytes(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def test_stalled_watch_client_does_not_delay_alerts(tmp_path, procs, control_dir):
    noise_fifo = tmp_path / "noise.fifo"
    bench = start_control_bench(procs, tmp_path, control_dir, extra_toml=NOISE_TOML % noise_fifo)
    wait_until(lambda: noise_fifo.exists(), 10, "the noise FIFO")

    # Baseline latency, no watcher.
    button = Button(bench.setup.fifo)
    try:
        button.click()
        wait_until(lambda: len(receiver_rows(bench.receiver.database)) == 2, 10, "baseline press at the receiver")

        # The stalled client: asks to watch everything, never reads.
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(str(bench.socket))
        stalled.sendall(b'{"v":1,"cmd":"watch"}\n')
        time.sleep(0.5)

        # Flood: thousands of edge events for it, until its socket is full.
        noise = Button(noise_fifo)
        try:
            for _ in range(8):
                noise.write("1\n0\n" * 500 + "1\n0")  # 1001 pairs per write, ends at rest
                time.sleep(0.02)
        finally:
            noise.close()
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            n = unread_bytes(stalled)
            if n != last:
                last, stable_since = n, time.monotonic()
            elif time.monotonic() - stable_since >= 0.2 and n > 0:
                break
            time.sleep(0.02)
        assert last > 0, "the stalled client received nothing: the flood did not reach it"
        full_at = time.monotonic()

        # Presses while the daemon's writer to the stalled client is blocked.
        rows_before = len(receiver_rows(bench.receiver.database))
        for _ in range(3):
            button.click(hold_s=0.1, gap_s=0.1)
        pressed_within = time.monotonic() - full_at
    finally:
        button.close()

    def arrived():
        rows = receiver_rows(bench.receiver.database)
        return rows if len(rows) >= rows_before + 6 else None
    rows = wait_until(arrived, 15, "the 3 presses and restores at the receiver",
                      diagnostics=bench.gateway.describe)
    new = rows[rows_before:]
    assert [r["kind"] for r in new] == ["panic", "restore"] * 3, [r["kind"] for r in new]
    assert all(r["body"]["input"] == "btn" for r in new), "the noise input raised alerts; the test's premise is wrong"
    latencies_ms = [(r["received_at_ns"] - r["occurred_at_ns"]) / 1e6 for r in new if r["kind"] == "panic"]
    baseline_ms = (rows[0]["received_at_ns"] - rows[0]["occurred_at_ns"]) / 1e6
    assert pressed_within < 1.9, f"presses took {pressed_within:.2f} s: not all made while the client stalled"
    assert max(latencies_ms) < 500, (
        f"press → receiver latency with a stalled watch client: {latencies_ms} ms (baseline {baseline_ms:.1f} ms)")

    # The control socket still answers others promptly...
    took = assert_serving(bench)
    assert took < 2.0, f"status took {took:.2f} s with a stalled client connected"
    cp = panicctl("status", "--json", "--socket", str(bench.socket), timeout=10)
    assert cp.returncode == 0, cp.stderr
    # ...and the stalled client is eventually dropped (2 s send timeout).
    time.sleep(5)
    conn = ControlConn.__new__(ControlConn)
    conn.sock, conn.buf, conn.reset, conn.path = stalled, b"", False, bench.socket
    try:
        assert conn.at_eof(timeout=10), "the daemon never dropped the stalled watch client"
    finally:
        conn.close()
    assert_serving(bench)
