"""Shared fixtures and helpers for the panic-gateway integration tests.

Everything here talks to 127.0.0.1 only, keeps all state under pytest's
tmp_path, and bounds every wait with a timeout. Processes started through the
``procs`` fixture are always killed at teardown.

Binaries are taken from $PANIC_BIN_DIR (default: <repo>/.build/debug). A
binary that is missing makes the test fail (not skip) with a clear message;
since the binaries may be rebuilt while tests run, a briefly missing binary
is waited for before failing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("PANIC_BIN_DIR", str(REPO / ".build" / "debug")))

GATEWAY_ID = "gw-test"
UPLINK_NAME = "central"

# How long a binary may be missing (being relinked) before the test fails.
BINARY_GRACE_S = 60.0


# ---------------------------------------------------------------------------
# Binaries and commands
# ---------------------------------------------------------------------------

def binary(name: str) -> str:
    """Absolute path of binary `name`; fails the test if it does not appear."""
    path = BIN_DIR / name
    deadline = time.monotonic() + BINARY_GRACE_S
    while True:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        if time.monotonic() >= deadline:
            pytest.fail(
                f"required binary {path} is missing or not executable "
                f"(waited {BINARY_GRACE_S:.0f} s). Build it with `swift build` or point "
                f"PANIC_BIN_DIR at the directory holding panic-gateway, panic-receiver and panicctl.",
                pytrace=False,
            )
        time.sleep(0.5)


def run(args: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Runs a command to completion (bounded), capturing text output."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"command timed out after {timeout} s: {args}\nstdout: {e.stdout}\nstderr: {e.stderr}")


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank (the figures the tests print)."""
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05,
               diagnostics: Callable[[], str] | None = None) -> Any:
    """Polls `predicate` until it returns a truthy value, which is returned.
    Fails the test with `what` (and optional diagnostics) on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # keep polling; report the last error on timeout
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout} s waiting for: {what}"
            if last_exc is not None:
                msg += f"\nlast error: {last_exc!r}"
            if diagnostics is not None:
                msg += "\n" + diagnostics()
            pytest.fail(msg)
        time.sleep(interval)


@dataclass
class GeneratedKey:
    path: Path
    public_b64: str
    key_id: str
    keygen_stdout: str


def keygen(path: Path) -> GeneratedKey:
    """Runs `panic-gateway keygen --out PATH` and parses what it prints."""
    cp = run([binary("panic-gateway"), "keygen", "--out", str(path)], timeout=30)
    assert cp.returncode == 0, f"keygen failed ({cp.returncode}): {cp.stderr}"
    pub = re.search(r"^public key:\s+(\S+)\s*$", cp.stdout, re.M)
    kid = re.search(r"^key id:\s+(\S+)\s*$", cp.stdout, re.M)
    assert pub and kid, f"unexpected keygen output:\n{cp.stdout}"
    return GeneratedKey(path=path, public_b64=pub.group(1), key_id=kid.group(1), keygen_stdout=cp.stdout)


def key_id_of(raw_public_key: bytes) -> str:
    """The keyid convention: first 16 hex digits of SHA-256 over the raw key."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    args: list[str]

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited {self.popen.returncode}"
        return (f"--- {self.name} ({state}): {' '.join(self.args)}\n"
                f"--- stdout (tail):\n{self.stdout()[-3000:]}\n--- stderr (tail):\n{self.stderr()[-6000:]}")

    def kill9(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 10) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


class ProcessManager:
    """Starts processes with output to files; kills them all at teardown."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        self._count = 0

    def start(self, name: str, args: list[str], **kw) -> Proc:
        self._count += 1
        out = self.log_dir / f"{self._count:02d}-{name}.stdout"
        err = self.log_dir / f"{self._count:02d}-{name}.stderr"
        with open(out, "wb") as o, open(err, "wb") as e:
            p = subprocess.Popen(args, stdout=o, stderr=e, stdin=subprocess.DEVNULL, **kw)
        proc = Proc(name=name, popen=p, stdout_path=out, stderr_path=err, args=args)
        self.procs.append(proc)
        return proc

    def describe(self) -> str:
        return "\n".join(p.describe() for p in self.procs)

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            with contextlib.suppress(Exception):
                if p.alive():
                    p.popen.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            with contextlib.suppress(Exception):
                try:
                    p.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.popen.kill()
                    p.popen.wait(timeout=5)


@pytest.fixture
def procs(tmp_path: Path, request):
    logs = tmp_path / "logs"
    logs.mkdir()
    mgr = ProcessManager(logs)
    try:
        yield mgr
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed and mgr.procs:
            print("\n" + mgr.describe())
        mgr.stop_all()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


# ---------------------------------------------------------------------------
# Configuration files
# ---------------------------------------------------------------------------

def gateway_toml(*, state_dir: Path, key_file: Path, fifo: Path, uplink_url: str,
                 heartbeat_interval_s: int = 1, site: str = "integration test bench") -> str:
    return f'''# written by Tests/integration
gateway_id = "{GATEWAY_ID}"
site = "{site}"
state_dir = "{state_dir}"
key_file = "{key_file}"

[[inputs]]
name = "btn"
kind = "panic"
zone = 501
debounce = {{ mode = "immediate", window_ms = 20 }}
source = {{ type = "simulated", fifo = "{fifo}" }}

[[uplinks]]
name = "{UPLINK_NAME}"
url = "{uplink_url}"
heartbeat_interval_s = {heartbeat_interval_s}
backoff_initial_ms = 50
backoff_max_ms = 500
'''


def receiver_toml(*, port: int, database: Path, public_keys: list[str], time_window_s: int = 300,
                  silent_after_intervals: int | None = None, authorities: list[str] | None = None,
                  postgres: str | None = None, extra: str = "") -> str:
    """The receiver's TOML; with `postgres` (a [postgresql] table) instead of the SQLite file."""
    keys = ", ".join(f'"{k}"' for k in public_keys)
    top = extra
    if silent_after_intervals is not None:
        top += f"silent_after_intervals = {silent_after_intervals}\n"
    if authorities:
        top += "authorities = [" + ", ".join(f'"{a}"' for a in authorities) + "]\n"
    db_line = "" if postgres else f'database = "{database}"\n'
    gateways = f'''[[gateways]]
id = "{GATEWAY_ID}"
public_keys = [{keys}]
''' if public_keys else ""
    return f'''listen = "127.0.0.1:{port}"
{db_line}time_window_s = {time_window_s}
{top}
{gateways}
{postgres or ""}
'''


# ---------------------------------------------------------------------------
# Gateway
# ---------------------------------------------------------------------------

@dataclass
class GatewaySetup:
    dir: Path
    config: Path
    state_dir: Path
    key_file: Path
    fifo: Path

    @property
    def outbox(self) -> Path:
        return self.state_dir / "outbox.db"


def make_gateway(tmp_path: Path, uplink_url: str, key: GeneratedKey | None = None,
                 heartbeat_interval_s: int = 1) -> GatewaySetup:
    d = tmp_path / "gateway"
    d.mkdir(exist_ok=True)
    state = d / "state"
    key_file = key.path if key is not None else d / "gateway.key"
    fifo = d / "btn.fifo"
    cfg = d / "gateway.toml"
    cfg.write_text(gateway_toml(state_dir=state, key_file=key_file, fifo=fifo, uplink_url=uplink_url,
                                heartbeat_interval_s=heartbeat_interval_s))
    return GatewaySetup(dir=d, config=cfg, state_dir=state, key_file=key_file, fifo=fifo)


def start_gateway(procs: ProcessManager, setup: GatewaySetup, timeout: float = 30) -> Proc:
    """Starts `panic-gateway run` and waits for its `running` notice and FIFO."""
    p = procs.start("gateway", [binary("panic-gateway"), "run", "--config", str(setup.config)])

    def ready():
        if not p.alive():
            pytest.fail(f"gateway exited early with {p.popen.returncode}\n{p.describe()}")
        return re.search(r"^<5>running\b", p.stderr(), re.M) and setup.fifo.exists()

    wait_until(ready, timeout, "gateway to log `running` and create its FIFO", diagnostics=p.describe)
    return p


class Button:
    """Writes edges to a simulated input FIFO (`1`/`0` lines, optional stamp)."""

    def __init__(self, fifo: Path, timeout: float = 10):
        def opened():
            try:
                return os.open(str(fifo), os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return None
        fd = wait_until(opened, timeout, f"FIFO {fifo} to accept a writer")
        self.fd = fd

    def write(self, line: str) -> None:
        data = (line + "\n").encode()
        assert os.write(self.fd, data) == len(data)

    def press(self, stamped: bool = True) -> None:
        self.write(f"1 {time.clock_gettime_ns(time.CLOCK_MONOTONIC)}" if stamped else "1")

    def release(self, stamped: bool = True) -> None:
        self.write(f"0 {time.clock_gettime_ns(time.CLOCK_MONOTONIC)}" if stamped else "0")

    def click(self, hold_s: float = 0.08, gap_s: float = 0.08) -> None:
        """One press and release, leaving the line quiet around both."""
        self.press()
        time.sleep(hold_s)
        self.release()
        time.sleep(gap_s)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


# ---------------------------------------------------------------------------
# Receiver
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PgDatabase:
    """A receiver's PostgreSQL database, where a receiver on SQLite has its
    file: `query`, `receiver_status` and `receiver_tail` read either."""
    cluster: object
    name: str
    config: Path

    def exists(self) -> bool:
        return True


@dataclass
class Receiver:
    proc: Proc
    port: int
    database: Path | PgDatabase
    config: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


LISTEN_RE = re.compile(r"listening 127\.0\.0\.1:(\d+)|address=127\.0\.0\.1:(\d+)\b.*\blistening")


def start_receiver(procs: ProcessManager, tmp_path: Path, public_keys: list[str], port: int = 0,
                   silent_after_intervals: int | None = None, time_window_s: int = 300,
                   timeout: float = 30, authorities: list[str] | None = None,
                   postgres: str | None = None, name: str = "receiver", extra: str = "",
                   engine=None) -> Receiver:
    """Starts `panic-receiver serve` and waits until /v1/health answers.

    The bound port is taken from the `listening 127.0.0.1:PORT` line on stdout
    or, failing that, from the `listening` notice the receiver logs on stderr
    (stdout is block-buffered when it is not a terminal; see
    test_receiver_stdout.py).

    `engine` is the `receiver_engine` fixture's value: None for SQLite, or
    the PostgreSQL cluster, on which a fresh database is made and migrated."""
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    db: Path | PgDatabase = d / "receiver.db"
    cfg = d / f"receiver-{port}.toml"
    pg_name = None
    if engine is not None and postgres is None:
        from pg import postgres_toml
        pg_name = engine.create_database()
        postgres = postgres_toml(engine, pg_name)
    cfg.write_text(receiver_toml(port=port, database=db, public_keys=public_keys, time_window_s=time_window_s,
                                 silent_after_intervals=silent_after_intervals, authorities=authorities,
                                 postgres=postgres, extra=extra))
    if pg_name is not None:
        db = migrate_postgres(engine, pg_name, cfg)
    p = procs.start(name, [binary("panic-receiver"), "serve", "--config", str(cfg)])

    def bound_port():
        if not p.alive():
            pytest.fail(f"receiver exited early with {p.popen.returncode}\n{p.describe()}")
        for text in (p.stdout(), p.stderr()):
            m = LISTEN_RE.search(text)
            if m:
                return int(m.group(1) or m.group(2))
        return None

    actual = wait_until(bound_port, timeout, "receiver to report its listening address", diagnostics=p.describe)
    if port:
        assert actual == port, f"receiver bound {actual}, asked for {port}"
    wait_until(lambda: requests.get(f"http://127.0.0.1:{actual}/v1/health", timeout=2).status_code == 200,
               timeout, "receiver /v1/health to answer 200", diagnostics=p.describe)
    return Receiver(proc=p, port=actual, database=db, config=cfg)


def migrate_postgres(cluster, name: str, cfg: Path) -> PgDatabase:
    """`panic-receiver migrate` with the receiver's configuration `cfg`, which
    names database `name` on `cluster`."""
    cp = run([binary("panic-receiver"), "migrate", "--config", str(cfg)], timeout=60)
    assert cp.returncode == 0, f"migrate failed ({cp.returncode}): {cp.stderr}"
    return PgDatabase(cluster, name, cfg)


def database_args(db: Path | PgDatabase) -> list[str]:
    return ["--config", str(db.config)] if isinstance(db, PgDatabase) else ["--database", str(db)]


def receiver_status(db: Path | PgDatabase) -> list[dict]:
    cp = run([binary("panic-receiver"), "status", *database_args(db), "--json"], timeout=30)
    assert cp.returncode == 0, f"status --json failed ({cp.returncode}): {cp.stderr}"
    return json.loads(cp.stdout)


def receiver_tail(db: Path | PgDatabase, last: int = 200) -> str:
    cp = run([binary("panic-receiver"), "tail", *database_args(db), "--no-follow", "--last", str(last)], timeout=30)
    assert cp.returncode == 0, f"tail --no-follow failed ({cp.returncode}): {cp.stderr}"
    return cp.stdout


# ---------------------------------------------------------------------------
# SQLite (read-only; the daemons keep their databases in WAL mode)
# ---------------------------------------------------------------------------

def query(db: Path | PgDatabase, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of `sql` (`?` placeholders) from an SQLite file, or from a
    receiver's PostgreSQL database (booleans compare equal to SQLite's 0/1,
    bytea comes back as bytes)."""
    if isinstance(db, PgDatabase):
        import psycopg
        from pg import PG_USER
        with psycopg.connect(host="127.0.0.1", port=db.cluster.port, user=PG_USER, dbname=db.name,
                             connect_timeout=10, autocommit=True) as con:
            return [tuple(r) for r in con.execute(sql.replace("?", "%s"), args).fetchall()]
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------
# Recording HTTP server (stands in for a receiver)
# ---------------------------------------------------------------------------

@dataclass
class CapturedRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None


@dataclass
class RecordingServer:
    port: int
    requests: list[CapturedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def captured(self, path: str | None = None) -> list[CapturedRequest]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]


@pytest.fixture
def recording_server():
    """A tiny HTTP/1.1 server on 127.0.0.1 that records every POST and answers 201."""
    holder: dict[str, RecordingServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec = CapturedRequest(method="POST", path=self.path, headers=list(self.headers.items()), body=body)
            srv = holder["server"]
            with srv.lock:
                srv.requests.append(rec)
            reply = b'{"status":"created"}\n'
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    holder["server"] = RecordingServer(port=httpd.server_address[1])
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield holder["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(timeout=5)


# ---------------------------------------------------------------------------
# Alerts built in Python
# ---------------------------------------------------------------------------

def uuid7(unix_ms: int | None = None) -> str:
    """A lowercase canonical UUIDv7 (RFC 9562)."""
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def rfc3339_micro(ns: int) -> str:
    secs, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem // 1000:06d}Z"


def alert_body(*, sequence: int, alert_id: str | None = None, kind: str = "panic", gateway_id: str = GATEWAY_ID) -> tuple[str, bytes]:
    """A well-formed alert as the gateway would send it (sorted keys)."""
    now = time.time_ns()
    aid = alert_id or uuid7(now // 1_000_000)
    doc = {
        "version": 1, "id": aid, "gateway_id": gateway_id, "site": "python signer",
        "sequence": sequence, "kind": kind, "input": "btn", "zone": 501, "area": 1,
        "occurred_at": rfc3339_micro(now - 5_000_000), "accepted_at": rfc3339_micro(now),
        "clock_synchronized": True, "test": False,
    }
    return aid, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def content_digest(body: bytes) -> str:
    """RFC 9530 Content-Digest with sha-256."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


# ---------------------------------------------------------------------------
# Serial devices (USB-serial inputs exercised over pseudo-terminals)
# ---------------------------------------------------------------------------

def make_serial_gateway(tmp_path: Path, uplink_url: str, serial_toml: str, key: GeneratedKey | None = None,
                        heartbeat_interval_s: int = 1) -> GatewaySetup:
    """Like `make_gateway` (the simulated input "btn", zone 501, stays, so
    `start_gateway` and `Button` work as usual), plus `serial_toml`: the
    `[[serial_devices]]` tables and the `[[inputs]]` that use them."""
    setup = make_gateway(tmp_path, uplink_url, key=key, heartbeat_interval_s=heartbeat_interval_s)
    setup.config.write_text(setup.config.read_text() + "\n# serial devices and their inputs\n" + serial_toml)
    return setup


def receiver_alerts(db: Path) -> list[dict]:
    """Every alert the receiver stored, by sequence: the signed JSON body
    plus `received_at_ns` (wall clock) from its row."""
    rows = query(db, "SELECT sequence, received_at_ns, body FROM alerts WHERE gateway_id = ? ORDER BY sequence",
                 (GATEWAY_ID,))
    out = []
    for _seq, received_at_ns, body in rows:
        doc = json.loads(bytes(body).decode() if isinstance(body, (bytes, memoryview)) else body)
        doc["received_at_ns"] = received_at_ns
        out.append(doc)
    return out


def alert_summary(alerts: list[dict]) -> list[tuple]:
    """(kind, input, zone, restores, detail) per alert, for readable asserts."""
    return [(a.get("kind"), a.get("input"), a.get("zone"), a.get("restores"), a.get("detail")) for a in alerts]


def rfc3339_to_ns(s: str) -> int:
    """`2026-01-02T03:04:05.123456Z` → ns since the epoch (UTC)."""
    import calendar
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", s)
    assert m, f"not an RFC 3339 UTC time: {s!r}"
    secs = calendar.timegm(tuple(int(g) for g in m.groups()[:6]) + (0, 0, 0))
    frac = (m.group(7) or "").ljust(9, "0")
    return secs * 1_000_000_000 + int(frac or "0")


class PtyDevice:
    """A scripted serial device: the test holds the master side of a
    pseudo-terminal and the gateway opens the slave at `path`. The test also
    keeps its own slave descriptor open so the pair stays alive whatever the
    gateway does; closing the master is the device being unplugged."""

    def __init__(self):
        import tty
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        tty.setraw(self.slave)  # no echo back into the master before the gateway configures the port
        os.set_blocking(self.master, False)
        self.written = 0

    def write(self, data: bytes, timeout: float = 10) -> None:
        """Writes all of `data` (bounded: fails if the reader stalls)."""
        import select
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            try:
                n = os.write(self.master, view)
                view = view[n:]
                self.written += n
                continue
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"serial device: {len(view)} of {len(data)} bytes not taken within {timeout} s "
                            f"(is the gateway still reading {self.path}?)")
            select.select([], [self.master], [], min(left, 0.1))

    def line(self, text: str) -> None:
        self.write(text.encode() + b"\n")

    def drain_output(self) -> bytes:
        """What the gateway wrote to the device so far (non-blocking)."""
        out = b""
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                return out
            if not chunk:
                return out
            out += chunk

    def unplug(self) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None

    def close(self) -> None:
        self.unplug()
        if self.slave is not None:
            with contextlib.suppress(OSError):
                os.close(self.slave)
            self.slave = None


@pytest.fixture
def pty_devices():
    """Makes `PtyDevice`s and closes all of them at teardown."""
    made: list[PtyDevice] = []

    def make() -> PtyDevice:
        d = PtyDevice()
        made.append(d)
        return d

    try:
        yield make
    finally:
        for d in made:
            d.close()


# ---------------------------------------------------------------------------
# Control socket and panicctl (the technician's CLI)
# ---------------------------------------------------------------------------

CONTROL_COMMANDS = ["status", "watch", "test", "send-test", "queue", "queue-show", "queue-retry", "clock"]


@pytest.fixture
def control_dir():
    """A private directory for a control socket, outside tmp_path on purpose:
    a Unix socket path must fit sun_path (108 bytes), which pytest's long
    per-test directories can exceed, and the permission tests run panicctl as
    `nobody`, who cannot traverse /tmp/pytest-of-root (0700). The directory
    itself is 0755; the socket's own mode is the daemon's. Removed at teardown."""
    import shutil
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="pgw-ctl-", dir="/tmp"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def make_control_gateway(tmp_path: Path, uplink_url: str, key: GeneratedKey, socket_path: Path, *,
                         heartbeat_interval_s: int = 1, backoff_initial_ms: int = 50, backoff_max_ms: int = 500,
                         control_group: str | None = None, uplink_toml: str = "", extra_toml: str = "") -> GatewaySetup:
    """Like `make_gateway` (input "btn", zone 501, simulated through a FIFO;
    one uplink "central"), plus `control_socket` (and `control_group`), the
    uplink's back-off, `uplink_toml` added to the uplink's table (timeouts),
    and `extra_toml` appended (more inputs)."""
    setup = make_gateway(tmp_path, uplink_url, key=key, heartbeat_interval_s=heartbeat_interval_s)
    text = setup.config.read_text()
    text = re.sub(r"^backoff_initial_ms = \d+$", f"backoff_initial_ms = {backoff_initial_ms}", text, flags=re.M)
    text = re.sub(r"^backoff_max_ms = \d+$", f"backoff_max_ms = {backoff_max_ms}" + ("\n" + uplink_toml if uplink_toml else ""),
                  text, flags=re.M)
    head = f'control_socket = "{socket_path}"\n'
    if control_group is not None:
        head += f'control_group = "{control_group}"\n'
    setup.config.write_text(head + text + ("\n" + extra_toml if extra_toml else ""))
    return setup


class ControlConn:
    """A raw client of the control socket (JSON lines, v1), for protocol tests."""

    def __init__(self, path: Path, timeout: float = 5):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # A Unix connect with a timeout set fails with EAGAIN while the
        # listen backlog is full (a burst of clients); a blocking client
        # would wait, so wait too, bounded.
        self.sock.setblocking(False)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(str(path))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.sock.close()
                    pytest.fail(f"cannot connect to {path} within {timeout} s: listen backlog stays full")
                time.sleep(0.002)
            except OSError:
                self.sock.close()
                raise
        self.sock.settimeout(timeout)
        self.buf = b""
        self.reset = False

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, cmd: str, args: dict | None = None, v: Any = 1) -> None:
        req: dict[str, Any] = {"v": v, "cmd": cmd}
        if args is not None:
            req["args"] = args
        self.send_raw(json.dumps(req).encode() + b"\n")

    def read_line(self, timeout: float = 5) -> dict | None:
        """The next JSON line; None on EOF. Fails the test on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no complete line from the control socket within {timeout} s (have {self.buf[:300]!r})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                # Linux resets a Unix stream whose peer closed with our bytes
                # unread; what it sent before is still delivered first.
                self.reset = True
                chunk = b""
            if not chunk:
                if self.buf:
                    pytest.fail(f"connection closed in the middle of a line: {self.buf[:300]!r}")
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        obj = json.loads(line)
        assert isinstance(obj, dict), f"not a JSON object: {line!r}"
        return obj

    def final(self, timeout: float = 10) -> tuple[list[dict], dict | None]:
        """Reads events until the final reply (or EOF): (events, reply)."""
        events = []
        deadline = time.monotonic() + timeout
        while True:
            obj = self.read_line(timeout=max(0.05, deadline - time.monotonic()))
            if obj is None or "event" not in obj:
                return events, obj
            events.append(obj["event"])

    def request(self, cmd: str, args: dict | None = None, timeout: float = 10) -> dict:
        self.send(cmd, args)
        _, reply = self.final(timeout)
        assert reply is not None, f"connection closed before the reply to {cmd}"
        return reply

    def at_eof(self, timeout: float = 5) -> bool:
        """Drains whatever is readable; True once the peer has closed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                self.reset = True
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def control_status(path: Path, timeout: float = 5) -> dict:
    """One `status` request over a fresh connection; the reply's result."""
    c = ControlConn(path, timeout=timeout)
    try:
        reply = c.request("status", timeout=timeout)
    finally:
        c.close()
    assert reply.get("ok") is True and reply.get("done") is True, f"status failed: {reply}"
    return reply["result"]


def wait_for_control(path: Path, gateway: Proc, timeout: float = 15) -> dict:
    """Waits until the daemon answers `status` on its control socket."""
    def answers():
        if not gateway.alive():
            pytest.fail(f"gateway exited with {gateway.popen.returncode}\n{gateway.describe()}")
        return control_status(path, timeout=2) if path.exists() else None
    return wait_until(answers, timeout, f"the control socket {path} to answer status", interval=0.1,
                      diagnostics=gateway.describe)


AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def panicctl(*args: str, timeout: float = 30, as_nobody: bool = False) -> subprocess.CompletedProcess:
    """Runs panicctl to completion (bounded); optionally as user nobody."""
    prefix: list[str] = []
    if as_nobody:
        import shutil
        if shutil.which("setpriv") is None:
            pytest.fail("setpriv (util-linux) is needed to run panicctl as nobody", pytrace=False)
        prefix = AS_NOBODY
    return run(prefix + [binary("panicctl"), *args], timeout=timeout)


def panicctl_json(*args: str, timeout: float = 30, expect_rc: int = 0) -> Any:
    """Runs `panicctl ARGS --json`, checks the exit code, parses stdout."""
    cp = panicctl(*args, "--json", timeout=timeout)
    assert cp.returncode == expect_rc, (
        f"panicctl {' '.join(args)} --json exited {cp.returncode}, expected {expect_rc}\n"
        f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
    try:
        return json.loads(cp.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"panicctl {' '.join(args)} --json printed no JSON ({e}):\n{cp.stdout}\nstderr:\n{cp.stderr}")


@dataclass
class ControlBench:
    """A daemon with its control socket, and (unless started down) a receiver."""
    setup: GatewaySetup
    gateway: Proc
    socket: Path
    key: GeneratedKey
    port: int
    receiver: Receiver | None

    def ctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """`panicctl ARGS --config <this gateway's config>`."""
        return panicctl(*args, "--config", str(self.setup.config), timeout=timeout)

    def ctl_json(self, *args: str, timeout: float = 30, expect_rc: int = 0) -> Any:
        return panicctl_json(*args, "--config", str(self.setup.config), timeout=timeout, expect_rc=expect_rc)

    def status(self) -> dict:
        return control_status(self.socket)

    def input(self, name: str = "btn") -> dict:
        return next(i for i in self.status()["inputs"] if i["name"] == name)


def start_control_bench(procs: ProcessManager, tmp_path: Path, control_dir: Path, *, receiver_up: bool = True,
                        **gateway_kw) -> ControlBench:
    """Key, receiver on loopback (or only a reserved port when `receiver_up`
    is false), gateway with its control socket in `control_dir`, answering."""
    key = keygen(tmp_path / "gateway.key")
    if receiver_up:
        rx = start_receiver(procs, tmp_path, [key.public_b64])
        port = rx.port
    else:
        rx = None
        port = free_port()
    sock = control_dir / "control.sock"
    setup = make_control_gateway(tmp_path, f"http://127.0.0.1:{port}", key, sock, **gateway_kw)
    gw = start_gateway(procs, setup)
    wait_for_control(sock, gw)
    return ControlBench(setup=setup, gateway=gw, socket=sock, key=key, port=port, receiver=rx)


def receiver_rows(db: Path) -> list[dict]:
    """The receiver's alerts table, by sequence: kind, test flag, times, body."""
    rows = query(db, "SELECT sequence, id, kind, test, occurred_at_ns, received_at_ns, body FROM alerts "
                     "WHERE gateway_id = ? ORDER BY sequence", (GATEWAY_ID,))
    out = []
    for seq, aid, kind, test, occ, rec, body in rows:
        doc = json.loads(bytes(body).decode() if isinstance(body, (bytes, memoryview)) else body)
        out.append({"sequence": seq, "id": aid, "kind": kind, "test": test, "occurred_at_ns": occ,
                    "received_at_ns": rec, "body": doc})
    return out


# ---------------------------------------------------------------------------
# PostgreSQL (a private cluster for the whole session; see pg.py)
# ---------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgres"])
def receiver_engine(request):
    """Runs a receiver test once on each engine: pass it to `start_receiver`
    as `engine=` (None is SQLite; on PostgreSQL each receiver gets a fresh,
    migrated database on the session's private cluster)."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_cluster")


@pytest.fixture(scope="session")
def pg_cluster():
    from pg import PostgresCluster
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
