"""Regression tests for hostile inputs that used to crash a daemon or fool it.

Each test pins down one defect that was fixed:

1. a configuration reload with a stray `[` (or `[&a]`, `[.a]`) trapped in
   the TOML parser and killed the daemon (and `check-config` died with 134);
2. control-socket `timeout_s` of -1e300 / 1e19 trapped in `Int(timeout)`;
3. a receiver's 401 `server_time` at the ends of Int64 overflowed the
   gateway's clock-offset arithmetic;
4. 429 with `Retry-After` was treated as a plain failure and retried at the
   gateway's own (short) back-off;
5. the receiver's `tail` printed a detail's control characters raw (a forged
   line, terminal escape sequences) and accepted them in the first place;
6. plain http to `127.attacker.example` passed as "loopback".

Everything talks to 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from conftest import (
    GATEWAY_ID,
    Button,
    ControlConn,
    alert_body,
    binary,
    content_digest,
    control_status,
    database_args,
    keygen,
    make_control_gateway,
    make_gateway,
    query,
    receiver_rows,
    run,
    start_control_bench,
    start_gateway,
    start_receiver,
    wait_for_control,
    wait_until,
)

EXIT_CONFIG_INVALID = 2


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

@dataclass
class Hit:
    at: float  # time.monotonic() when the request had been read
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None

    def doc(self) -> dict:
        return json.loads(self.body)


# A responder gets (path, body, index of this request among those to the same
# path) and returns (status, extra headers, JSON-able body).
Responder = Callable[[str, bytes, int], tuple[int, dict, dict]]


@dataclass
class FakeReceiver:
    """A threaded HTTP/1.1 server on 127.0.0.1 whose answers the test scripts."""
    port: int
    respond: Responder
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def captured(self, path: str | None = None) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if path is None or h.path == path]


@pytest.fixture
def fake_receiver():
    holder: dict[str, FakeReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            srv = holder["server"]
            with srv.lock:
                index = sum(1 for h in srv.hits if h.path == self.path)
                srv.hits.append(Hit(at=time.monotonic(), path=self.path, headers=list(self.headers.items()), body=body))
                respond = srv.respond
            status, headers, doc = respond(self.path, body, index)
            reply = json.dumps(doc).encode() + b"\n"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    holder["server"] = FakeReceiver(port=httpd.server_address[1], respond=lambda p, b, i: (201, {}, {"status": "created"}))
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield holder["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(timeout=5)


def check_config(path: Path) -> subprocess.CompletedProcess:
    return run([binary("panic-gateway"), "check-config", str(path)], timeout=30)


def signature_created(hit: Hit) -> int:
    m = re.search(r";created=(-?\d+)", hit.header("Signature-Input") or "")
    assert m, f"no created= in Signature-Input: {hit.header('Signature-Input')!r}"
    return int(m.group(1))


def assert_error(reply, *needles):
    assert reply is not None, "connection closed without an error reply"
    assert reply.get("v") == 1 and reply.get("ok") is False and reply.get("done") is True, reply
    assert isinstance(reply.get("error"), str), reply
    for n in needles:
        assert n in reply["error"], f"error {reply['error']!r} does not mention {n!r}"


# ---------------------------------------------------------------------------
# 1. A reload with a stray bracket
# ---------------------------------------------------------------------------

STRAY_HEADERS = ["[", "[&a]", "[.a]"]


def test_reload_with_a_stray_bracket_is_refused_and_the_daemon_keeps_running(tmp_path, procs, recording_server, control_dir):
    key = keygen(tmp_path / "gateway.key")
    sock = control_dir / "control.sock"
    setup = make_control_gateway(tmp_path, f"http://127.0.0.1:{recording_server.port}", key, sock)
    good = setup.config.read_text()
    gw = start_gateway(procs, setup)
    wait_for_control(sock, gw)

    def presses():
        return [json.loads(r.body) for r in recording_server.captured("/v1/alerts")
                if json.loads(r.body).get("kind") == "panic" and json.loads(r.body).get("input") == "btn"]

    def troubles():
        return [json.loads(r.body) for r in recording_server.captured("/v1/alerts")
                if json.loads(r.body).get("kind") == "trouble"]

    button = Button(setup.fifo)
    try:
        button.click()
        wait_until(lambda: len(presses()) == 1, 10, "the baseline press delivered", diagnostics=gw.describe)

        for n, stray in enumerate(STRAY_HEADERS, start=1):
            broken = good.rstrip("\n") + "\n" + stray + "\n"
            stray_line = broken.count("\n")  # the stray header is the last line
            setup.config.write_text(broken)

            # check-config on the very file: exit 2 with FILE:LINE: TOML syntax.
            cp = check_config(setup.config)
            assert cp.returncode == EXIT_CONFIG_INVALID, (
                f"check-config of a config ending in {stray!r} exited {cp.returncode} (expected 2)\n"
                f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
            assert re.search(rf"^{re.escape(str(setup.config))}:{stray_line}: TOML syntax: .+", cp.stderr + cp.stdout, re.M), (
                f"check-config of {stray!r} should print {setup.config}:{stray_line}: TOML syntax: ...; got\n"
                f"stdout: {cp.stdout}\nstderr: {cp.stderr}")

            refusals_before = gw.stderr().count("configuration reload refused")
            troubles_before = len(troubles())
            os.kill(gw.popen.pid, signal.SIGHUP)
            wait_until(lambda: gw.stderr().count("configuration reload refused") > refusals_before or not gw.alive(),
                       10, f"the reload of a config ending in {stray!r} to be refused in the log",
                       diagnostics=gw.describe)
            time.sleep(2)
            assert gw.alive(), f"the daemon died on a reload with a stray {stray!r}\n{gw.describe()}"
            assert "TOML syntax" in gw.stderr().split("configuration reload refused")[-1], (
                f"the refusal does not say why\n{gw.describe()}")
            st = control_status(sock)
            assert st["gateway_id"] == GATEWAY_ID
            assert [i["name"] for i in st["inputs"]] == ["btn"], st["inputs"]

            # The refused reload is reported upstream, and the old config still delivers.
            wait_until(lambda: any("reload refused" in (t.get("detail") or "") for t in troubles()[troubles_before:]),
                       10, "a trouble alert reporting the refused reload", diagnostics=gw.describe)
            button.click()
            wait_until(lambda: len(presses()) == 1 + n, 10, f"a press delivered after the refused reload of {stray!r}",
                       diagnostics=gw.describe)
    finally:
        button.close()
    assert gw.alive(), gw.describe()


# ---------------------------------------------------------------------------
# 2. Control-socket numbers out of range
# ---------------------------------------------------------------------------

# Raw JSON text for each timeout, so the daemon sees exactly these numbers.
BAD_TIMEOUTS = ["-1e300", "1e300", "1e19", "0", '"30"', "-1", "10000000000000000000", "601"]


def request_line(cmd: str, args_json: str) -> bytes:
    return b'{"v":1,"cmd":"' + cmd.encode() + b'","args":' + args_json.encode() + b"}\n"


def test_control_socket_timeouts_out_of_range_are_refused_not_fatal(tmp_path, procs, control_dir):
    bench = start_control_bench(procs, tmp_path, control_dir)

    def serving(what: str):
        assert bench.gateway.alive(), f"the daemon died after {what}\n{bench.gateway.describe()}"
        st = control_status(bench.socket, timeout=5)
        assert st["gateway_id"] == GATEWAY_ID, st
        return st

    c = ControlConn(bench.socket)
    try:
        for t in BAD_TIMEOUTS:
            c.send_raw(request_line("test", '{"input":"btn","timeout_s":' + t + "}"))
            _, reply = c.final(timeout=10)
            assert_error(reply, "timeout_s")
            serving(f"test timeout_s={t}")
            assert bench.input()["test_mode"] is False, f"test mode left on after refusing timeout_s={t}"

            c.send_raw(request_line("send-test", '{"timeout_s":' + t + "}"))
            _, reply = c.final(timeout=10)
            assert_error(reply, "timeout_s")
            serving(f"send-test timeout_s={t}")

        for limit in ["-1", "1e30", "0", "1.5", '"5"']:
            c.send_raw(request_line("queue", '{"limit":' + limit + "}"))
            _, reply = c.final(timeout=10)
            assert_error(reply, "limit")
            serving(f"queue limit={limit}")

        # The connection itself is still good, and valid values still work.
        assert c.request("status")["ok"] is True
        ok = c.request("queue", {"limit": 5})
        assert ok["ok"] is True, ok
    finally:
        c.close()

    # Clients that hang up at once, before the (error) reply can be written:
    # a clean close and a reset, for both commands.
    for t in ["1e19", "-1e300", "1e300"]:
        for cmd, args in (("test", '{"input":"btn","timeout_s":' + t + "}"), ("send-test", '{"timeout_s":' + t + "}")):
            for reset in (False, True):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(str(bench.socket))
                if reset:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.sendall(request_line(cmd, args))
                s.close()
    time.sleep(1.0)
    serving("clients sending hostile timeouts and hanging up at once")

    # None of the refused send-tests sent anything; the input is not in test mode.
    time.sleep(0.5)
    rows = receiver_rows(bench.receiver.database)
    assert not [r for r in rows if r["test"]], f"a refused send-test still sent a test alert: {rows}"
    assert bench.input()["test_mode"] is False

    # And alerts still flow.
    button = Button(bench.setup.fifo)
    try:
        button.click()
    finally:
        button.close()
    wait_until(lambda: [r["kind"] for r in receiver_rows(bench.receiver.database)] == ["panic", "restore"], 10,
               "the press and its restore at the receiver", diagnostics=bench.gateway.describe)
    serving("the press")


# ---------------------------------------------------------------------------
# 3. server_time at the ends of Int64
# ---------------------------------------------------------------------------

SERVER_TIMES = ["9223372036854775807", "-9223372036854775808", "abc"]


def test_receiver_server_time_at_the_ends_of_int64_does_not_crash_the_gateway(tmp_path, procs, fake_receiver, control_dir):
    phase: dict[str, str | None] = {"server_time": SERVER_TIMES[0]}

    def respond(path, body, index):
        st = phase["server_time"]
        if st is None:
            return 201, {}, {"status": "created"}
        return 401, {}, {"error": "outside window", "server_time": st}

    fake_receiver.respond = respond
    key = keygen(tmp_path / "gateway.key")
    # A private control socket (not the default under /run), back-off 50-500 ms:
    # a refused alert is retried every 0.5 s.
    setup = make_control_gateway(tmp_path, f"http://127.0.0.1:{fake_receiver.port}", key, control_dir / "control.sock")
    gw = start_gateway(procs, setup)

    def alert_posts():
        return fake_receiver.captured("/v1/alerts")

    button = Button(setup.fifo)
    try:
        button.press()
        for st in SERVER_TIMES:
            phase["server_time"] = st
            seen = len(alert_posts())
            # At least two alert POSTs answered with this server_time (the
            # second one is sent with whatever offset the first produced).
            wait_until(lambda: len(alert_posts()) >= seen + 2 or not gw.alive(), 15,
                       f"two POST /v1/alerts answered 401 with server_time {st}", diagnostics=gw.describe)
            time.sleep(0.5)
            assert gw.alive(), f"the gateway died on a 401 with server_time {st!r}\n{gw.describe()}"

        phase["server_time"] = None
        seen = len(alert_posts())
        wait_until(lambda: len(alert_posts()) > seen, 15, "the alert re-sent once the receiver answers 201",
                   diagnostics=gw.describe)
        time.sleep(1.0)
        assert gw.alive(), f"the gateway died after the 201\n{gw.describe()}"
    finally:
        button.close()

    posts = alert_posts()
    docs = [h.doc() for h in posts]
    assert all(d["kind"] == "panic" and d["input"] == "btn" for d in docs), [d["kind"] for d in docs]
    assert len({d["id"] for d in docs}) == 1, "one alert, sent again and again"
    # The absurd server_times were not taken as a clock offset: every
    # signature was created close to the real time.
    now = int(time.time())
    created = [signature_created(h) for h in posts + fake_receiver.captured("/v1/heartbeats")]
    far = [c for c in created if abs(c - now) > 120]
    assert not far, f"signatures created far from now ({now}): {far}"


# ---------------------------------------------------------------------------
# 4. Retry-After
# ---------------------------------------------------------------------------

def test_retry_after_is_honoured(tmp_path, procs, fake_receiver, control_dir):
    def respond(path, body, index):
        if path == "/v1/alerts" and index == 0:
            return 429, {"Retry-After": "3"}, {"error": "slow down"}
        return 201, {}, {"status": "created"}

    fake_receiver.respond = respond
    key = keygen(tmp_path / "gateway.key")
    # A short back-off of its own; a cap high enough that Retry-After: 3 is
    # honoured in full (the service caps a pause at backoff_max_ms).
    setup = make_control_gateway(tmp_path, f"http://127.0.0.1:{fake_receiver.port}", key, control_dir / "control.sock",
                                 backoff_initial_ms=50, backoff_max_ms=10_000)
    assert "backoff_initial_ms = 50\n" in setup.config.read_text()
    gw = start_gateway(procs, setup)

    button = Button(setup.fifo)
    try:
        button.click()
        wait_until(lambda: len(fake_receiver.captured("/v1/alerts")) >= 2, 15,
                   "the throttled alert sent a second time", diagnostics=gw.describe)
    finally:
        button.close()

    posts = fake_receiver.captured("/v1/alerts")
    first = posts[0]
    first_id = first.doc()["id"]
    again = [h for h in posts[1:] if h.doc()["id"] == first_id]
    assert again, f"the first alert was never sent again: {[h.doc()['kind'] for h in posts]}"
    gap = again[0].at - first.at
    print(f"\nRetry-After: 3 -> the same alert was sent again after {gap:.3f} s "
          f"(backoff_initial_ms = 50)")
    assert posts[1].doc()["id"] == first_id, "something else was sent before the throttled alert"
    assert gap >= 2.8, f"re-sent {gap:.3f} s after a 429 with Retry-After: 3"
    assert gap < 10, f"re-sent only {gap:.3f} s after a 429 with Retry-After: 3"
    # The restore follows, and the gateway is fine.
    wait_until(lambda: any(h.doc()["kind"] == "restore" for h in fake_receiver.captured("/v1/alerts")), 10,
               "the restore delivered", diagnostics=gw.describe)
    assert gw.alive(), gw.describe()


# ---------------------------------------------------------------------------
# 5. Control characters in what the receiver stores and shows
# ---------------------------------------------------------------------------

COMPONENTS = ("@method", "@target-uri", "content-type", "content-digest")


class Signer:
    """Signs a request as a gateway would, with `http-message-signatures`."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str):
        self.key_id = key_id
        self.signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: private_key}))

    def post(self, url: str, body: bytes, nonce: str) -> requests.Response:
        req = requests.Request("POST", url, headers={"Content-Type": "application/json"}, data=body).prepare()
        self.signer.sign(req, key_id=self.key_id, created=datetime.datetime.now(datetime.timezone.utc),
                         nonce=nonce, include_alg=True, covered_component_ids=COMPONENTS, body=body)
        assert req.headers["Content-Digest"] == content_digest(body)
        with requests.Session() as s:
            return s.send(req, timeout=10)


def alert_with(sequence: int, **fields) -> tuple[str, bytes]:
    aid, body = alert_body(sequence=sequence)
    doc = json.loads(body)
    doc.update(fields)
    return aid, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


FORGED = "2031-05-05T05:05:05.000000Z  gw-test  ALERT      #999 PANIC input=btn zone=501 forged"


def test_receiver_tail_escapes_control_characters(tmp_path, procs, receiver_engine):
    key = keygen(tmp_path / "gw.key")
    private = serialization.load_pem_private_key(key.path.read_bytes(), password=None)
    rx = start_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine)
    url = f"{rx.base_url}/v1/alerts"
    signer = Signer(private, key.key_id)

    # A newline and an ANSI "clear screen": refused for the ESC.
    aid, body = alert_with(1, detail="first\n" + FORGED + " \u001b[2J")
    r = signer.post(url, body, aid)
    assert r.status_code == 400, f"detail with ESC: expected 400, got {r.status_code} {r.text!r}"
    assert "detail" in r.text, r.text

    # A lone ESC, and C1 (CSI) as well.
    for seq, detail in ((2, "\u001b]0;pwned\u0007"), (3, "x\u009b2J")):
        aid, body = alert_with(seq, detail=detail)
        r = signer.post(url, body, aid)
        assert r.status_code == 400, f"detail {detail!r}: expected 400, got {r.status_code} {r.text!r}"

    # A site with a newline: refused.
    aid, body = alert_with(4, site="hall\n" + FORGED)
    r = signer.post(url, body, aid)
    assert r.status_code == 400, f"site with a newline: expected 400, got {r.status_code} {r.text!r}"
    assert "site" in r.text, r.text

    # Only a newline and a tab: accepted, stored as sent.
    aid_ok, body_ok = alert_with(5, detail="second\n" + FORGED + "\tend")
    r = signer.post(url, body_ok, aid_ok)
    assert r.status_code == 201, f"detail with newline and tab: expected 201, got {r.status_code} {r.text!r}"
    stored = [row for row in receiver_rows_any(rx.database)]
    assert [s[0] for s in stored] == [aid_ok], f"only the newline/tab alert is stored: {stored}"
    assert bytes(stored[0][1]) == body_ok

    cp = subprocess.run([binary("panic-receiver"), "tail", "--no-follow", *database_args(rx.database)],
                        capture_output=True, timeout=30)
    assert cp.returncode == 0, f"tail failed ({cp.returncode}): {cp.stderr!r}"
    out = cp.stdout
    assert b"\x1b" not in out, f"an ESC byte reached the terminal:\n{out!r}"
    assert b"\x9b" not in out and "\u009b".encode() not in out, f"a C1 CSI reached the terminal:\n{out!r}"
    assert b"\x07" not in out and b"\r" not in out, f"a control byte reached the terminal:\n{out!r}"
    text = out.decode()
    lines = text.split("\n")
    forged = [ln for ln in lines if ln.startswith("2031-05-05")]
    assert not forged, f"a line forged from the detail:\n{text}"
    ours = [ln for ln in lines if "second" in ln]
    assert len(ours) == 1, f"the accepted alert is on exactly one line:\n{text}"
    assert "second\\u{A}2031-05-05T05:05:05" in ours[0], f"the newline is not shown escaped:\n{ours[0]!r}"
    assert "\t" not in ours[0], f"a raw tab in the tail line: {ours[0]!r}"
    assert rx.proc.alive(), rx.proc.describe()


def receiver_rows_any(db: Path) -> list[tuple]:
    return query(db, "SELECT id, body FROM alerts ORDER BY sequence")


# ---------------------------------------------------------------------------
# 6. "Loopback" decided by the address, not by a prefix
# ---------------------------------------------------------------------------

def test_plain_http_to_a_host_that_only_starts_with_127_is_refused(tmp_path):
    key = keygen(tmp_path / "gateway.key")

    def config_with(url: str, name: str) -> Path:
        setup = make_gateway(tmp_path / name, url, key=key)
        return setup.config

    for host in ("127.attacker.example", "127.0.0.1.attacker.example", "127.0.0.1x"):
        (tmp_path / host).mkdir()
        cfg = config_with(f"http://{host}:8080", host)
        cp = check_config(cfg)
        assert cp.returncode == EXIT_CONFIG_INVALID, (
            f"plain http to {host} passed check-config ({cp.returncode})\nstdout: {cp.stdout}\nstderr: {cp.stderr}")
        msg = cp.stderr + cp.stdout
        assert "loopback" in msg, f"the refusal does not mention loopback:\n{msg}"
        assert "uplinks[0].url" in msg and host in msg, msg

    for host in ("127.0.0.1", "127.1.2.3", "localhost", "[::1]"):
        d = "ok-" + host.strip("[]").replace(":", "_")
        (tmp_path / d).mkdir()
        cfg = config_with(f"http://{host}:8080", d)
        cp = check_config(cfg)
        assert cp.returncode == 0, f"plain http to {host} refused ({cp.returncode})\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
        assert f"{cfg}: OK" in cp.stdout, cp.stdout
