"""`panicctl`, the technician's CLI, against a real daemon started by each
test (simulated input "btn" through a FIFO, a real panic-receiver on
127.0.0.1), through the real control socket.

Exit codes under test: 0 ok, 1 check failed, 2 configuration invalid,
3 daemon not running, 4 permission denied on the socket."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time

from conftest import (
    UPLINK_NAME,
    Button,
    binary,
    keygen,
    make_control_gateway,
    panicctl,
    panicctl_json,
    query,
    receiver_rows,
    start_control_bench,
    start_gateway,
    start_receiver,
    wait_for_control,
    wait_until,
)

ANSI = "\x1b["


def table(text: str, first_header: str) -> list[str]:
    """The lines of the text table whose header line starts with `first_header`."""
    for block in text.split("\n\n"):
        lines = [ln for ln in block.strip("\n").splitlines()]
        if lines and lines[0].startswith(first_header):
            return lines
    raise AssertionError(f"no table headed {first_header!r} in:\n{text}")


def pending_count(setup, destination=UPLINK_NAME) -> int:
    return query(setup.outbox, "SELECT COUNT(*) FROM deliveries WHERE destination = ? AND state = 'pending'",
                 (destination,))[0][0]


# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------

def test_status_json_and_tables_with_receiver_up(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)

    # A heartbeat is acknowledged within a few intervals (1 s).
    def acked():
        s = bench.ctl_json("status")
        return s if s["uplinks"][0]["last_heartbeat_ack"] else None
    st = wait_until(acked, 15, "status to show last_heartbeat_ack", interval=0.3, diagnostics=bench.gateway.describe)

    assert st["gateway_id"] == "gw-test"
    assert isinstance(st["uptime_s"], int) and st["uptime_s"] >= 0
    assert [i["name"] for i in st["inputs"]] == ["btn"]
    btn = st["inputs"][0]
    assert btn["state"] == "idle" and btn["kind"] == "panic" and btn["zone"] == 501 and btn["test_mode"] is False, btn
    up = st["uplinks"][0]
    assert up["name"] == UPLINK_NAME and up["url"] == f"http://127.0.0.1:{bench.port}", up
    assert up["consecutive_failures"] == 0 and up["refusal"] is None, up
    for k in ("last_success", "last_error", "last_error_at", "backoff_until", "last_heartbeat_ack", "delivered"):
        assert k in up, f"uplink status lacks {k}: {up}"
    assert isinstance(st["queue"], list) and st["queue"], st
    q = st["queue"][0]
    assert q["destination"] == UPLINK_NAME and q["pending"] == 0, q
    assert "oldest_pending_age_s" in q and "pending_alarms" in q and "delivered" in q, q
    assert set(st["clock"]) >= {"synchronized", "estimated_error_us", "maximum_error_us"}, st["clock"]
    assert isinstance(st["clock"]["synchronized"], bool)

    # The input's state follows the button; a delivery shows as last_success.
    button = Button(bench.setup.fifo)
    try:
        button.press()
        wait_until(lambda: bench.ctl_json("status")["inputs"][0]["state"] == "pressed", 10,
                   "status to show btn pressed", interval=0.2)
        button.release()
        wait_until(lambda: bench.ctl_json("status")["inputs"][0]["state"] == "idle", 10,
                   "status to show btn idle again", interval=0.2)
    finally:
        button.close()
    st = wait_until(lambda: (s := bench.ctl_json("status"))["uplinks"][0]["last_success"] and s, 15,
                    "status to show a last_success after the press was delivered", interval=0.3)
    assert st["uplinks"][0]["delivered"] >= 2 and st["last_sequence"] >= 2, st

    # The text form: aligned tables, plain (no colour) when not a terminal.
    cp = bench.ctl("status")
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout
    assert ANSI not in out, f"colour escapes in piped output:\n{out!r}"
    for header in ("INPUT", "KIND", "ZONE", "STATE", "UPLINK", "HEALTH", "LAST SUCCESS", "LAST ERROR",
                   "LAST HEARTBEAT ACK", "QUEUE", "PENDING", "OLDEST (s)", "DELIVERED"):
        assert header in out, f"status table lacks {header!r}:\n{out}"
    header, row = table(out, "INPUT")
    assert row.startswith("btn ") and "panic" in row and "501" in row and "idle" in row, out
    uheader, urow = table(out, "UPLINK")
    assert urow.startswith(UPLINK_NAME + " ") and " ok " in urow, out
    # Columns line up: each cell starts under its header.
    assert row.index("panic") == header.index("KIND") and row.index("501") == header.index("ZONE"), f"{header}\n{row}"
    assert urow.index("ok") == uheader.index("HEALTH"), f"{uheader}\n{urow}"
    qheader, qrow = table(out, "QUEUE")
    assert qrow.split()[:2] == [UPLINK_NAME, "0"], out
    assert "clock:" in out and "gw-test" in out


def test_status_while_receiver_down_shows_uplink_down_and_pending_age(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir, receiver_up=False)
    button = Button(bench.setup.fifo)
    try:
        button.click()
    finally:
        button.close()
    wait_until(lambda: pending_count(bench.setup) >= 2, 10, "the press and its restore pending in the outbox")
    time.sleep(1.2)  # let the oldest pending alert age past a second

    st = wait_until(lambda: (s := bench.ctl_json("status"))["uplinks"][0]["consecutive_failures"] > 0 and s, 10,
                    "status to count delivery failures", interval=0.3)
    up = st["uplinks"][0]
    assert up["last_error"], f"uplink down but no last_error: {up}"
    assert up["last_error_at"] and up["last_success"] is None and up["last_heartbeat_ack"] is None, up
    assert up["backoff_until"], f"no back-off shown: {up}"
    q = st["queue"][0]
    assert q["destination"] == UPLINK_NAME and q["pending"] >= 2 and q["pending_alarms"] >= 1, q
    assert isinstance(q["oldest_pending_age_s"], (int, float)) and q["oldest_pending_age_s"] >= 1, q

    cp = bench.ctl("status")
    assert cp.returncode == 0, cp.stderr
    uheader, urow = table(cp.stdout, "UPLINK")
    assert urow.split()[:2] == [UPLINK_NAME, "DOWN"], f"uplink row does not say DOWN:\n{cp.stdout}"
    assert up["last_error"][:20] in urow, f"uplink row lacks the last error {up['last_error']!r}:\n{cp.stdout}"
    qheader, qrow = table(cp.stdout, "QUEUE")
    cells = qrow.split()
    assert cells[0] == UPLINK_NAME and int(cells[1]) >= 2 and float(cells[3]) >= 1, f"queue row:\n{cp.stdout}"


# ---------------------------------------------------------------------------
# send-test
# ---------------------------------------------------------------------------

def test_send_test_is_acknowledged_and_stored_as_test(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    reply = bench.ctl_json("send-test", "--timeout", "10")
    assert reply["ok"] is True, reply
    res = reply["result"]
    dests = res["destinations"]
    assert [d["destination"] for d in dests] == [UPLINK_NAME], dests
    assert dests[0]["acknowledged"] is True, dests
    assert isinstance(dests[0]["latency_ms"], (int, float)) and 0 <= dests[0]["latency_ms"] < 10_000, dests

    rows = wait_until(lambda: [r for r in receiver_rows(bench.receiver.database) if r["id"] == res["alert_id"]], 10,
                      "the test alert in the receiver's database")
    r = rows[0]
    assert r["kind"] == "test" and r["test"] == 1, r
    assert r["body"]["test"] is True and r["body"]["kind"] == "test" and r["sequence"] == res["sequence"], r

    # Text form: a table with the latency.
    cp = bench.ctl("send-test", "--timeout", "10")
    assert cp.returncode == 0, cp.stderr
    assert "DESTINATION" in cp.stdout and "acknowledged" in cp.stdout and " ms" in cp.stdout, cp.stdout


def test_send_test_with_receiver_down_fails_with_exit_1(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir, receiver_up=False)
    t0 = time.monotonic()
    reply = bench.ctl_json("send-test", "--timeout", "3", expect_rc=1)
    assert time.monotonic() - t0 < 20
    assert reply["ok"] is False, reply
    dests = reply["result"]["destinations"]
    assert dests[0]["destination"] == UPLINK_NAME and dests[0]["acknowledged"] is False, dests
    assert dests[0]["error"], f"no reason given: {dests}"
    cp = bench.ctl("send-test", "--timeout", "2")
    assert cp.returncode == 1 and "FAILED" in cp.stdout, f"{cp.returncode}\n{cp.stdout}\n{cp.stderr}"


# ---------------------------------------------------------------------------
# test INPUT
# ---------------------------------------------------------------------------

def start_panicctl(procs, bench, *args):
    return procs.start("panicctl", [binary("panicctl"), *args, "--config", str(bench.setup.config)])


def test_guided_test_end_to_end_alert_is_a_test_at_the_receiver(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    p = start_panicctl(procs, bench, "test", "btn", "--json", "--timeout", "20")
    # Ready: the daemon has put the input in test mode.
    wait_until(lambda: bench.input()["test_mode"] is True, 10, "btn in test mode (status test_mode)",
               diagnostics=p.describe)
    button = Button(bench.setup.fifo)
    try:
        button.click(hold_s=0.15, gap_s=0.05)
    finally:
        button.close()
    wait_until(lambda: not p.alive(), 30, "panicctl test to finish", diagnostics=p.describe)
    assert p.popen.returncode == 0, f"panicctl test failed\n{p.describe()}"
    reply = json.loads(p.stdout())
    assert reply["ok"] is True, reply
    res = reply["result"]
    assert res["input"] == "btn" and res["edges"] >= 2, res
    assert res["warnings"] == [], res
    assert isinstance(res["bounce_ms"], (int, float)) and "decided_after_ms" in res and res["press_first_edge"], res
    d = res["deliveries"]
    assert d[0]["destination"] == UPLINK_NAME and d[0]["acknowledged"] is True, d
    assert isinstance(d[0]["latency_ms"], (int, float)) and d[0]["latency_ms"] > 0, d

    rows = wait_until(lambda: [r for r in receiver_rows(bench.receiver.database) if r["body"].get("input") == "btn"
                               and r["kind"] == "test" and r["body"].get("restores") is None], 10,
                      "the test press at the receiver")
    press = rows[0]
    assert press["id"] == res["alert_id"] and press["test"] == 1 and press["body"]["test"] is True, press
    assert not [r for r in receiver_rows(bench.receiver.database) if r["kind"] == "panic"], \
        "a test press reached the receiver as a panic alarm"
    # Test mode ends with the test.
    assert bench.input()["test_mode"] is False


def test_guided_test_text_output(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    p = start_panicctl(procs, bench, "test", "btn", "--timeout", "20")
    wait_until(lambda: bench.input()["test_mode"] is True, 10, "btn in test mode", diagnostics=p.describe)
    button = Button(bench.setup.fifo)
    try:
        button.click(hold_s=0.15, gap_s=0.05)
    finally:
        button.close()
    wait_until(lambda: not p.alive(), 30, "panicctl test to finish", diagnostics=p.describe)
    out = p.stdout()
    assert p.popen.returncode == 0, p.describe()
    assert "press and release btn" in out and "PRESS decided" in out and "acknowledged" in out and "PASS" in out, out


def test_guided_test_with_receiver_down_reports_not_acknowledged(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir, receiver_up=False)
    p = start_panicctl(procs, bench, "test", "btn", "--json", "--timeout", "20")
    wait_until(lambda: bench.input()["test_mode"] is True, 10, "btn in test mode", diagnostics=p.describe)
    button = Button(bench.setup.fifo)
    try:
        button.click(hold_s=0.15, gap_s=0.05)
    finally:
        button.close()
    # The daemon waits up to 15 s for the acknowledgement.
    wait_until(lambda: not p.alive(), 40, "panicctl test to finish", diagnostics=p.describe)
    assert p.popen.returncode == 1, p.describe()
    reply = json.loads(p.stdout())
    assert reply["ok"] is False and "did not acknowledge" in reply["error"], reply
    res = reply["result"]
    assert res["edges"] >= 2 and res["alert_id"], res
    d = res["deliveries"]
    assert d[0]["destination"] == UPLINK_NAME and d[0]["acknowledged"] is False and d[0]["error"], d
    # The test press waits in the queue as a test, not as a panic.
    q = bench.ctl_json("queue")
    kinds = {a["id"]: a["kind"] for a in q["pending"][UPLINK_NAME]}
    assert kinds.get(res["alert_id"]) == "test" and "panic" not in kinds.values(), q


def test_guided_test_without_a_press_reports_no_edges(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    t0 = time.monotonic()
    cp = bench.ctl("test", "btn", "--json", "--timeout", "2", timeout=30)
    took = time.monotonic() - t0
    assert cp.returncode == 1, f"{cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    assert 1.5 <= took < 15, took
    reply = json.loads(cp.stdout)
    assert reply["ok"] is False and "no edges" in reply["error"], reply
    assert reply["result"]["edges"] == 0
    assert "no edges" in cp.stderr, cp.stderr
    assert bench.input()["test_mode"] is False


def test_guided_test_warns_when_the_input_reads_pressed_at_rest(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    button = Button(bench.setup.fifo)
    try:
        button.write("1")
        wait_until(lambda: bench.input()["state"] == "pressed", 10, "btn to read pressed")
        cp = bench.ctl("test", "btn", "--json", "--timeout", "2", timeout=30)
    finally:
        button.close()
    assert cp.returncode == 1, f"{cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    reply = json.loads(cp.stdout)
    warnings = " ".join(reply["result"]["warnings"])
    assert "pressed at rest" in warnings and "inverted polarity" in warnings and "stuck" in warnings, reply
    # The text form shows the same warning to the technician.
    cp = bench.ctl("test", "btn", "--timeout", "1", timeout=30)
    assert cp.returncode == 1 and "warning:" in cp.stdout and "inverted polarity" in cp.stdout, cp.stdout


def test_guided_test_of_unknown_input(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    cp = bench.ctl("test", "nosuch", "--timeout", "2")
    assert cp.returncode == 1 and "no input named nosuch" in cp.stderr and "btn" in cp.stderr, cp.stderr


# ---------------------------------------------------------------------------
# watch
# ---------------------------------------------------------------------------

def _watch(bench, output: str, clicks: int, window_s: float):
    """Runs `panicctl watch btn --json` with its stdout on a pipe or on a
    pseudo-terminal, clicks the button `clicks` times, and collects the JSON
    lines that reach that stdout within `window_s` while watch keeps running.
    Returns (events, partial bytes, still running, stderr)."""
    args = [binary("panicctl"), "watch", "btn", "--json", "--config", str(bench.setup.config)]
    if output == "pty":
        master, slave = os.openpty()
        p = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        os.close(slave)
        fd = master
    else:
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        master = None
        fd = p.stdout.fileno()
    events: list[dict] = []
    raw = b""
    try:
        time.sleep(1.0)  # let watch connect and subscribe
        button = Button(bench.setup.fifo)
        try:
            for _ in range(clicks):
                button.click(hold_s=0.1, gap_s=0.1)
        finally:
            button.close()
        deadline = time.monotonic() + window_s
        while time.monotonic() < deadline and p.poll() is None:
            if [e.get("type") for e in events].count("release") >= clicks:
                break
            r, _, _ = select.select([fd], [], [], 0.1)
            if not r:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            raw += chunk.replace(b"\r\n", b"\n")
            *lines, raw = raw.split(b"\n")
            events += [json.loads(ln) for ln in lines if ln.strip()]
        alive = p.poll() is None
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        if p.stdout:
            p.stdout.close()
        if master is not None:
            os.close(master)
    return events, raw, alive, err


def _check_watch_events(events, clicks):
    assert events[0]["type"] == "watching" and events[0]["inputs"] == ["btn"], events[0]
    edges = [e for e in events if e["type"] == "edge"]
    assert len(edges) >= 2 * clicks and {e["level"] for e in edges} == {0, 1}, edges
    for e in edges:
        assert e["input"] == "btn" and isinstance(e["mono_ns"], int) and e["mono_ns"] > 0, e
        assert e["wall"].endswith("Z") and isinstance(e["read_latency_us"], int), e
    decisions = [e for e in events if e["type"] in ("press", "release")]
    assert [e["type"] for e in decisions] == ["press", "release"] * clicks, decisions
    for e in decisions:
        assert isinstance(e["first_edge_mono_ns"], int) and isinstance(e["decided_mono_ns"], int), e
        assert e["decided_mono_ns"] >= e["first_edge_mono_ns"] and e["first_edge_wall"].endswith("Z"), e
        assert e["wall"].endswith("Z") and e["edges"] >= 1 and "bounce_ms" in e, e
    monos = [e["mono_ns"] for e in edges]
    assert monos == sorted(monos), "edges out of order"


def test_watch_json_streams_edges_and_decisions_on_a_terminal(tmp_path, procs, control_dir):
    """The technician's view: stdout is a terminal."""
    bench = start_control_bench(procs, tmp_path, control_dir)
    events, partial, alive, err = _watch(bench, "pty", clicks=3, window_s=10)
    assert alive, f"watch exited early: {err}"
    assert [e.get("type") for e in events].count("release") >= 3, f"events: {events!r}, partial {partial!r}, stderr {err}"
    _check_watch_events(events, 3)


def test_watch_json_streams_to_a_pipe(tmp_path, procs, control_dir):
    """For scripts: `panicctl watch --json | …`. One press and release must
    reach the pipe while watch runs, not when 4 KiB have piled up."""
    bench = start_control_bench(procs, tmp_path, control_dir)
    events, partial, alive, err = _watch(bench, "pipe", clicks=1, window_s=5)
    assert alive, f"watch exited early: {err}"
    assert [e.get("type") for e in events].count("release") >= 1, (
        f"`panicctl watch btn --json` wrote nothing usable to its stdout pipe within 5 s of one press and release "
        f"while it kept running (events {events!r}, partial line {partial[:200]!r}); its output is block-buffered "
        f"when stdout is not a terminal. stderr: {err!r}")
    _check_watch_events(events, 1)


# ---------------------------------------------------------------------------
# queue, queue show, queue retry
# ---------------------------------------------------------------------------

def test_queue_show_and_retry_skips_the_backoff(tmp_path, procs, control_dir):
    # Back-off of at least 24 s (30 s, 20 % jitter); short HTTP timeouts so
    # that no attempt is still in flight (waiting in the HTTP client's
    # connection pool) when the receiver comes up; heartbeats out of the way.
    bench = start_control_bench(procs, tmp_path, control_dir, receiver_up=False, heartbeat_interval_s=3600,
                                backoff_initial_ms=30_000, backoff_max_ms=60_000,
                                uplink_toml="connect_timeout_ms = 200\nrequest_timeout_ms = 500")
    button = Button(bench.setup.fifo)
    try:
        button.click()
    finally:
        button.close()
    wait_until(lambda: pending_count(bench.setup) == 2, 10, "the press and its restore pending")
    wait_until(lambda: bench.status()["uplinks"][0]["consecutive_failures"] >= 1, 10, "a failed delivery attempt")
    time.sleep(1.5)  # any attempt started for the restore has failed by now
    failures = bench.status()["uplinks"][0]["consecutive_failures"]

    q = bench.ctl_json("queue")
    assert q["summary"][0]["destination"] == UPLINK_NAME and q["summary"][0]["pending"] == 2, q
    pend = q["pending"][UPLINK_NAME]
    assert [a["kind"] for a in pend] == ["panic", "restore"], pend
    assert [a["sequence"] for a in pend] == [1, 2], pend
    for a in pend:
        assert a["id"] and a["accepted_at"].endswith("Z") and "attempts" in a and "last_error" in a, a

    cp = bench.ctl("queue")
    assert cp.returncode == 0, cp.stderr
    assert f"{UPLINK_NAME}: 2 pending" in cp.stdout and "SEQ" in cp.stdout and "#1" in cp.stdout and "panic" in cp.stdout, cp.stdout

    shown = json.loads(bench.ctl("queue", "show", "1").stdout)
    assert shown["sequence"] == 1 and shown["kind"] == "panic" and shown["input"] == "btn" and shown["id"] == pend[0]["id"], shown
    by_prefix = bench.ctl("queue", "show", pend[1]["id"][:13])
    assert by_prefix.returncode == 0 and json.loads(by_prefix.stdout)["sequence"] == 2, by_prefix.stdout + by_prefix.stderr
    missing = bench.ctl("queue", "show", "999")
    assert missing.returncode == 1 and "no alert 999" in missing.stderr, missing.stderr

    # The receiver comes up; the back-off (>= 24 s) holds delivery back...
    rx = start_receiver(procs, tmp_path, [bench.key.public_b64], port=bench.port)
    time.sleep(2.0)
    up = bench.status()["uplinks"][0]
    assert pending_count(bench.setup) == 2 and up["consecutive_failures"] == failures, (
        f"delivered or retried without `queue retry` while in back-off: {up}\n{bench.gateway.describe()}")
    # ...until `queue retry` skips it.
    t0 = time.monotonic()
    r = bench.ctl_json("queue", "retry")
    assert r["made_due"] >= 1, r
    wait_until(lambda: pending_count(bench.setup) == 0, 5, "delivery right after `queue retry`",
               diagnostics=bench.gateway.describe)
    assert time.monotonic() - t0 < 5
    assert [x["kind"] for x in receiver_rows(rx.database)] == ["panic", "restore"]
    after = bench.ctl_json("queue")
    assert after["summary"][0]["pending"] == 0 and after["pending"][UPLINK_NAME] == [], after
    # Alarms are never deleted from the queue by panicctl: nothing like it exists.
    cp = panicctl("help", "queue")
    assert "never deleted" in cp.stdout, cp.stdout
    subcommands = cp.stdout.split("SUBCOMMANDS:")[1]
    assert [ln.split()[0] for ln in subcommands.splitlines() if ln.startswith("  ") and not ln.startswith("   ")
            and ln.split()[0] != "See"] == ["list", "show", "retry"], cp.stdout


# ---------------------------------------------------------------------------
# Without the daemon: devices, clock, config check, keys show
# ---------------------------------------------------------------------------

def test_devices_clock_config_and_keys_without_the_daemon(tmp_path, control_dir):
    key = keygen(tmp_path / "gateway.key")
    setup = make_control_gateway(tmp_path, "http://127.0.0.1:9", key, control_dir / "control.sock")

    dev = panicctl_json("devices", "--config", str(setup.config))
    assert {"gpio_chips", "usb_serial", "configured_missing", "libgpiod", "udevd_running"} <= set(dev), dev
    assert isinstance(dev["gpio_chips"], list) and isinstance(dev["usb_serial"], list)

    clk = panicctl_json("clock")
    assert isinstance(clk["synchronized"], bool)
    assert isinstance(clk["estimated_error_us"], int) and isinstance(clk["maximum_error_us"], int), clk
    text = panicctl("clock")
    assert text.returncode == 0 and "estimated error" in text.stdout, text.stdout

    good = panicctl("config", "check", str(setup.config))
    assert good.returncode == 0 and "OK" in good.stdout, good.stdout + good.stderr
    gj = panicctl_json("config", "check", str(setup.config))
    assert gj["ok"] is True and gj["inputs"] == 1 and gj["uplinks"] == 1, gj

    bad = tmp_path / "bad.toml"
    bad.write_text(setup.config.read_text().replace("zone = 501", "zone = 123456"))
    cp = panicctl("config", "check", str(bad))
    assert cp.returncode == 2, f"{cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    assert "zone" in cp.stderr, cp.stderr
    bj = panicctl_json("config", "check", str(bad), expect_rc=2)
    assert bj["ok"] is False and any(e["key"] and "zone" in e["key"] for e in bj["errors"]), bj

    relative = tmp_path / "relsock.toml"
    relative.write_text(setup.config.read_text().replace(f'control_socket = "{control_dir / "control.sock"}"',
                                                         'control_socket = "relative.sock"'))
    cp = panicctl("config", "check", str(relative))
    assert cp.returncode == 2 and "control_socket" in cp.stderr, cp.stderr

    ks = panicctl_json("keys", "show", "--config", str(setup.config))
    assert ks["key_id"] == key.key_id and ks["public_key"] == key.public_b64, ks


# ---------------------------------------------------------------------------
# Daemon not running; socket not accessible
# ---------------------------------------------------------------------------

def test_daemon_not_running_exits_3_naming_the_socket(tmp_path, procs, control_dir):
    key = keygen(tmp_path / "gateway.key")
    sock = control_dir / "control.sock"
    setup = make_control_gateway(tmp_path, "http://127.0.0.1:9", key, sock)
    for cmd in (["status"], ["queue"], ["send-test"], ["watch"], ["test", "btn"]):
        cp = panicctl(*cmd, "--config", str(setup.config))
        assert cp.returncode == 3, f"panicctl {cmd}: {cp.returncode}\n{cp.stderr}"
        assert str(sock) in cp.stderr and "not running" in cp.stderr, cp.stderr

    # A stale socket left by a killed daemon: connection refused, same answer.
    gw = start_gateway(procs, setup)
    wait_for_control(sock, gw)
    gw.kill9()
    assert sock.exists(), "expected the killed daemon to leave its socket file behind"
    cp = panicctl("status", "--json", "--config", str(setup.config))
    assert cp.returncode == 3 and str(sock) in cp.stderr, cp.stderr


def test_socket_not_accessible_exits_4_naming_the_group(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    st = os.stat(bench.socket)
    assert oct(st.st_mode & 0o777) == "0o660" and st.st_gid == 0, oct(st.st_mode)
    cp = panicctl("status", "--socket", str(bench.socket), as_nobody=True)
    assert cp.returncode == 4, f"{cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    assert "permission denied" in cp.stderr and 'group "root"' in cp.stderr and str(bench.socket) in cp.stderr, cp.stderr


def test_members_of_the_control_group_get_in(tmp_path, procs, control_dir):
    """control_group = "nogroup": the socket is 0660 root:nogroup and a
    client whose group is nogroup may use it."""
    bench = start_control_bench(procs, tmp_path, control_dir, control_group="nogroup")
    st = os.stat(bench.socket)
    assert st.st_gid == 65534 and oct(st.st_mode & 0o777) == "0o660", (st.st_gid, oct(st.st_mode))
    cp = panicctl("status", "--json", "--socket", str(bench.socket), as_nobody=True)
    assert cp.returncode == 0, f"{cp.returncode}\n{cp.stderr}"
    assert json.loads(cp.stdout)["gateway_id"] == "gw-test"


def test_client_outside_the_group_is_refused_by_peer_credentials(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)
    os.chmod(bench.socket, 0o666)  # past the file permissions: only SO_PEERCRED stands in the way
    cp = panicctl("status", "--socket", str(bench.socket), as_nobody=True)
    assert cp.returncode == 4, f"{cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    assert "permission denied" in cp.stderr and "not in group" in cp.stderr and '"root"' in cp.stderr, cp.stderr
    assert bench.gateway.alive()


def test_help_lists_every_command_and_exit_codes():
    cp = panicctl("--help")
    assert cp.returncode == 0
    for c in ("status", "devices", "watch", "test", "send-test", "queue", "config", "keys", "clock"):
        assert c in cp.stdout, cp.stdout
    flat = " ".join(cp.stdout.split())
    assert "3 daemon not running" in flat and "4 permission denied" in flat and "1 a check failed" in flat, cp.stdout
