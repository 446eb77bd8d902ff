"""The receiver under hostile clients: connections that never finish a
request must neither starve a real gateway nor be held forever.

What the receiver promises (its `[limits]` table, defaults in brackets):
`max_connections` [8192]; `max_pending_connections` [4096] connections that
have not completed a verified request, the oldest closed when full;
`header_timeout_ms` [10000] from accept (TLS handshake included) to a
complete request head; `body_timeout_ms` [10000] from the head to the end of
the body; `idle_timeout_s` [120] for connections that did authenticate;
`max_body_bytes` [65536], a larger `Content-Length` answered 413 at once;
`rate_per_gateway` [50/s] and `burst_per_gateway` [500], then 429.

The hostile clients are one selector-driven thread (`HostileClients`), not a
thread per connection. Everything runs on 127.0.0.1; every wait is bounded.

Test 1 runs against a TLS receiver with the default limits, so the 10 s
header/body timeouts close every hostile connection after 10 s and the
clients open it again: the population stays at ~2000 but turns over at
~200 connections/s (half of them full TLS handshakes). The first connections
are opened evenly over those 10 s so the turnover is steady rather than 2000
at once every 10 s. The slow-header and slow-body clients finish a TLS
handshake and trickle inside it (plain bytes on a TLS port would be refused
at once). Its figures (held per kind, re-opens, lifetimes, CPU, latency
p50/p99/max, the slowest presses) are printed (`-s`) and written to
.build/hostile-clients.json.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import heapq
import ipaddress
import json
import math
import os
import random
import resource
import selectors
import socket
import ssl
import statistics
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import conftest as c

FIGURES_FILE = c.REPO / ".build" / "hostile-clients.json"


# ---------------------------------------------------------------------------
# Certificates: a throw-away CA and a server certificate for 127.0.0.1
# ---------------------------------------------------------------------------

@dataclass
class DevCerts:
    ca: Path
    cert: Path
    key: Path


def make_dev_certs(directory: Path) -> DevCerts:
    """A P-256 CA and a server certificate for localhost / 127.0.0.1 / ::1,
    valid for a day (what Sources/PanicDevCerts makes, in Python)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "panic-gateway hostile-clients test CA")])
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
           .issuer_name(ca_name).public_key(srv_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                        data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                        crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .add_extension(x509.SubjectAlternativeName([
               x509.DNSName("localhost"),
               x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
               x509.IPAddress(ipaddress.ip_address("::1")),
           ]), critical=False)
           .add_extension(x509.SubjectKeyIdentifier.from_public_key(srv_key.public_key()), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
           .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = DevCerts(ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(pem))
    files.cert.write_bytes(srv.public_bytes(pem))
    files.key.write_bytes(srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    os.chmod(files.key, 0o600)
    return files


# ---------------------------------------------------------------------------
# A receiver with [limits] (and TLS when certificates are given)
# ---------------------------------------------------------------------------

@dataclass
class LimitedReceiver:
    proc: c.Proc
    port: int
    database: Path | c.PgDatabase
    config: Path
    certs: DevCerts | None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.certs else 'http'}://127.0.0.1:{self.port}"


_receivers_started = 0


def start_limited_receiver(procs: c.ProcessManager, tmp_path: Path, public_keys: list[str], *,
                           limits: dict[str, int] | None = None, certs: DevCerts | None = None,
                           timeout: float = 30, engine=None) -> LimitedReceiver:
    """`panic-receiver serve` on 127.0.0.1 (an ephemeral port), with a
    `[limits]` table when `limits` is given (None: no table at all, the
    defaults), TLS when `certs` is given, on a fresh PostgreSQL database when
    `engine` (the `receiver_engine` fixture) is the cluster; waits for
    /v1/health."""
    global _receivers_started
    _receivers_started += 1
    d = tmp_path / f"receiver-{_receivers_started}"
    d.mkdir(parents=True, exist_ok=True)
    db = d / "receiver.db"
    cfg = d / "receiver.toml"
    pg_name = postgres = None
    if engine is not None:
        from pg import postgres_toml
        pg_name = engine.create_database()
        postgres = postgres_toml(engine, pg_name)
    text = c.receiver_toml(port=0, database=db, public_keys=public_keys, postgres=postgres)
    if certs is not None:
        text = f'tls_cert = "{certs.cert}"\ntls_key = "{certs.key}"\n' + text
    if limits is not None:
        text += "\n[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
    cfg.write_text(text)
    database: Path | c.PgDatabase = c.migrate_postgres(engine, pg_name, cfg) if pg_name else db
    p = procs.start("receiver", [c.binary("panic-receiver"), "serve", "--config", str(cfg)])

    def bound_port():
        if not p.alive():
            pytest.fail(f"receiver exited at start with {p.popen.returncode} (config below)\n"
                        f"--- {cfg}:\n{text}\n{p.describe()}", pytrace=False)
        for out in (p.stdout(), p.stderr()):
            m = c.LISTEN_RE.search(out)
            if m:
                return int(m.group(1) or m.group(2))
        return None

    port = c.wait_until(bound_port, timeout, "receiver to report its listening address", diagnostics=p.describe)
    scheme = "https" if certs else "http"
    verify = str(certs.ca) if certs else True
    c.wait_until(lambda: requests.get(f"{scheme}://127.0.0.1:{port}/v1/health", timeout=2,
                                      verify=verify).status_code == 200,
                 timeout, f"receiver {scheme}://127.0.0.1:{port}/v1/health to answer 200", diagnostics=p.describe)
    return LimitedReceiver(proc=p, port=port, database=database, config=cfg, certs=certs)


def start_gateway_for(procs: c.ProcessManager, tmp_path: Path, key: c.GeneratedKey,
                      rx: LimitedReceiver) -> tuple[c.GatewaySetup, c.Proc]:
    """The usual test gateway (input "btn" on a FIFO), its one uplink to `rx`
    (trusting the test CA when `rx` is TLS), and waits for its first heartbeat
    at the receiver, so its connection is an authenticated one."""
    setup = c.make_gateway(tmp_path, rx.base_url, key=key)
    if rx.certs is not None:
        # [[uplinks]] is the last table of the file: this key lands in it.
        setup.config.write_text(setup.config.read_text() + f'ca_file = "{rx.certs.ca}"\n')
    gw = c.start_gateway(procs, setup)
    c.wait_until(lambda: c.query(rx.database, "SELECT last_heartbeat_ns FROM gateways WHERE id = ? "
                                              "AND last_heartbeat_ns IS NOT NULL", (c.GATEWAY_ID,)),
                 30, "the gateway's first heartbeat at the receiver",
                 diagnostics=lambda: gw.describe() + "\n" + rx.proc.describe())
    return setup, gw


def socket_fds(pid: int) -> int:
    """How many sockets process `pid` has open (its listening one included)."""
    n = 0
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            if os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                n += 1
    return n


def accepted_by(pid: int, server_port: int, client: socket.socket) -> bool:
    """True once process `pid` has accept()ed the server side of `client`'s
    connection to `server_port` (a connection still in the listen queue has
    no inode in /proc/net/tcp, and is not among the process's descriptors)."""
    client_port = client.getsockname()[1]
    want_local = f"0100007F:{server_port:04X}"
    want_remote = f"0100007F:{client_port:04X}"
    inode = None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == want_local and parts[2] == want_remote:
                inode = parts[9]
                break
    if not inode or inode == "0":
        return False
    target = f"socket:[{inode}]"
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            if os.readlink(f"{fd_dir}/{name}") == target:
                return True
    return False


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` has used so far, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far of each thread of `pid`, keyed "tid name"."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            out[f"{tid} {name}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def listen_overflows() -> int | None:
    """TcpExt ListenOverflows of this network namespace (all listeners): how
    many handshakes the kernel dropped because an accept queue was full."""
    with contextlib.suppress(OSError, StopIteration, KeyError, ValueError):
        lines = Path("/proc/net/netstat").read_text().splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            if names.startswith("TcpExt:"):
                return int(dict(zip(names.split(), values.split()))["ListenOverflows"])
    return None


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


# ---------------------------------------------------------------------------
# Hostile clients: one selector thread holding many connections
# ---------------------------------------------------------------------------

SLOW_HEADER_HEAD = b"POST /v1/alerts HTTP/1.1\r\nHost: x\r\n"
SLOW_HEADER_TRICKLE = b"X-Slow-Header: " + b"a" * 4096  # never a CRLF: the head never completes
SLOW_BODY_HEAD = (b"POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 60000\r\n\r\n")
SLOW_BODY_TRICKLE = b'{"padding":"' + b"b" * 59000  # far short of 60000 in the time a test runs


def partial_client_hello() -> bytes:
    """The first half of a genuine TLS ClientHello (made with a memory BIO)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert len(hello) > 100 and hello[0] == 0x16, f"not a TLS handshake record: {hello[:16]!r}"
    return hello[: len(hello) // 2]


class _Conn:
    __slots__ = ("kind", "slot", "sock", "state", "started_at", "established_at", "out", "trickle_pos", "got",
                 "registered", "seq")

    def __init__(self, kind: str, slot: int, seq: int):
        self.kind, self.slot, self.seq = kind, slot, seq
        self.sock: socket.socket | None = None
        self.state = "new"
        self.started_at = self.established_at = 0.0
        self.out = b""
        self.trickle_pos = 0
        self.got = b""
        self.registered = False


class HostileClients:
    """Holds `counts[kind]` connections of each kind to 127.0.0.1:`port`:

    - ``idle``: TCP connect, then nothing.
    - ``slow_header``: a request head that never completes: the request line
      and Host, then one header byte every `trickle_s`.
    - ``slow_body``: a complete head announcing `Content-Length: 60000`, then
      a few body bytes every `trickle_s`.
    - ``tls_half_open``: TCP connect and the first half of a TLS ClientHello.

    With `tls` true, slow_header and slow_body speak TLS first (complete the
    handshake, then trickle inside it), as they must to reach a TLS server's
    HTTP parser at all. The first connections are opened evenly over
    `ramp_s` (kinds interleaved), so that server-side deadlines do not fall
    on all of them at once. A connection the server closes is re-opened at
    once (when `reopen`), at most `opens_per_tick` new connects per loop turn
    and at most `max_reopens` in all; every close is counted, with its
    lifetime."""

    KINDS = ("idle", "slow_header", "slow_body", "tls_half_open")

    def __init__(self, port: int, counts: dict[str, int], *, tls: bool = False, trickle_s: float = 2.0,
                 reopen: bool = True, max_reopens: int = 50_000, opens_per_tick: int = 50,
                 connect_timeout_s: float = 10.0, ramp_s: float = 0.0):
        assert set(counts) <= set(self.KINDS), counts
        self.port = port
        self.counts = dict(counts)
        self.tls = tls
        self.trickle_s = trickle_s
        self.reopen = reopen
        self.max_reopens = max_reopens
        self.opens_per_tick = opens_per_tick
        self.connect_timeout_s = connect_timeout_s
        self.hello = partial_client_hello()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.to_open: deque[_Conn] = deque()  # re-opens, waiting for a connect
        self.scheduled: deque[tuple[float, _Conn]] = deque()  # (seconds after start, conn): the first opens
        self.base = 0.0
        self.connecting: set[_Conn] = set()
        self.timers: list[tuple[float, int, _Conn]] = []  # (when, seq, conn): next trickle
        self.live: dict[tuple[str, int], _Conn] = {}
        self._seq = 0
        self.reopens_used = 0
        self.reopen_refused = 0
        self.stats = {k: Counter() for k in self.counts}
        self.lifetimes: dict[str, list[float]] = {k: [] for k in self.counts}
        self.replies: dict[str, Counter] = {k: Counter() for k in self.counts}
        self.error: BaseException | None = None
        # (monotonic time, "open" | "close"): when connections were established and closed by the server.
        self.events: list[tuple[float, str]] = []
        order = [(kind, slot) for slot in range(max(self.counts.values(), default=0))
                 for kind in self.counts if slot < self.counts[kind]]
        for i, (kind, slot) in enumerate(order):
            self.scheduled.append((ramp_s * i / len(order), self._new(kind, slot)))
        self.thread = threading.Thread(target=self._run, name="hostile-clients", daemon=True)

    # -- public ------------------------------------------------------------

    def start(self) -> "HostileClients":
        self.base = time.monotonic()
        self.thread.start()
        return self

    def held(self) -> dict[str, int]:
        with self.lock:
            return {k: self.stats[k]["held"] for k in self.counts}

    def total_held(self) -> int:
        return sum(self.held().values())

    def wait_held(self, at_least: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            if self.total_held() >= at_least:
                return
            time.sleep(0.05)
        pytest.fail(f"hostile clients: only {self.total_held()} of {sum(self.counts.values())} connections "
                    f"established within {timeout} s (wanted {at_least}): {self.summary()}", pytrace=False)

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"hostile-clients thread failed: {self.error!r}") from self.error
        if not self.thread.is_alive() and not self.stop_event.is_set():
            raise AssertionError("hostile-clients thread died")

    def summary(self) -> dict:
        with self.lock:
            out = {}
            for k in self.counts:
                s = self.stats[k]
                life = self.lifetimes[k]
                out[k] = {
                    "target": self.counts[k], "held": s["held"], "opened": s["opened"],
                    "reopened": s["reopened"], "closed_by_server": s["closed_by_server"],
                    "closed_in_handshake": s["closed_in_handshake"], "connect_failed": s["connect_failed"],
                    "lifetime_s_median": round(statistics.median(life), 3) if life else None,
                    "lifetime_s_min": round(min(life), 3) if life else None,
                    "replies": dict(self.replies[k]),
                }
            out["_reopens_used"] = self.reopens_used
            out["_reopens_refused"] = self.reopen_refused
            return out

    def events_between(self, start: float, end: float) -> dict[str, int]:
        """How many connections were established / closed by the server
        between monotonic times `start` and `end`."""
        out = Counter()
        for t, what in list(self.events):
            if start <= t <= end:
                out[what] += 1
        return {"opened": out["open"], "closed": out["close"]}

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        for conn in list(self.live.values()):
            self._discard(conn)
        with contextlib.suppress(Exception):
            self.sel.close()

    # -- the loop ----------------------------------------------------------

    def _new(self, kind: str, slot: int) -> _Conn:
        self._seq += 1
        return _Conn(kind, slot, self._seq)

    def _bump(self, kind: str, what: str, n: int = 1) -> None:
        with self.lock:
            self.stats[kind][what] += n

    def _run(self) -> None:
        # The attackers stand in for clients on other machines: on this
        # two-core box their own CPU (Python TLS handshakes, 2000 sockets)
        # must not be what slows the receiver and the gateway down, so this
        # thread (Linux: niceness is per thread) yields to them.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        try:
            last_sweep = 0.0
            while not self.stop_event.is_set():
                now = time.monotonic()
                self._open_some()
                self._fire_timers(now)
                if now - last_sweep > 0.25:
                    last_sweep = now
                    self._sweep_connecting(now)
                wait = 0.05
                if self.to_open:
                    wait = 0.005
                elif self.scheduled:
                    wait = max(0.001, min(wait, self.base + self.scheduled[0][0] - time.monotonic()))
                if self.timers:
                    wait = max(0.0, min(wait, self.timers[0][0] - time.monotonic()))
                if not self.sel.get_map():
                    time.sleep(wait)
                    continue
                for key, mask in self.sel.select(wait):
                    conn: _Conn = key.data
                    if conn.sock is None:
                        continue
                    try:
                        self._on_event(conn, mask)
                    except (OSError, ssl.SSLError) as e:
                        self._closed(conn, f"error {type(e).__name__}")
        except BaseException as e:  # reported through check()
            self.error = e

    def _open_some(self) -> None:
        budget = self.opens_per_tick
        now = time.monotonic()
        while budget > 0:
            if self.to_open:
                conn = self.to_open.popleft()
            elif self.scheduled and self.base + self.scheduled[0][0] <= now:
                conn = self.scheduled.popleft()[1]
            else:
                break
            budget -= 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", self.port))
            conn.sock, conn.state, conn.started_at = s, "connecting", time.monotonic()
            self.live[(conn.kind, conn.slot)] = conn
            self._bump(conn.kind, "opened")
            if err not in (0, errno.EINPROGRESS):
                self._failed_connect(conn)
                continue
            self.connecting.add(conn)
            self.sel.register(s, selectors.EVENT_WRITE, conn)
            conn.registered = True

    def _sweep_connecting(self, now: float) -> None:
        for conn in list(self.connecting):
            if now - conn.started_at > self.connect_timeout_s:
                self._failed_connect(conn)

    def _watch(self, conn: _Conn, events: int) -> None:
        if conn.registered:
            self.sel.modify(conn.sock, events, conn)
        else:
            self.sel.register(conn.sock, events, conn)
            conn.registered = True

    def _on_event(self, conn: _Conn, mask: int) -> None:
        if conn.state == "connecting":
            err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._failed_connect(conn)
                return
            self.connecting.discard(conn)
            if self.tls and conn.kind in ("slow_header", "slow_body"):
                self.sel.unregister(conn.sock)
                conn.registered = False
                conn.sock = self.ctx.wrap_socket(conn.sock, server_hostname="localhost",
                                                 do_handshake_on_connect=False)
                conn.state = "handshake"
                self._handshake(conn)
            else:
                self._established(conn)
        elif conn.state == "handshake":
            self._handshake(conn)
        elif conn.state == "held":
            if mask & selectors.EVENT_WRITE:
                self._flush(conn)
            if conn.sock is not None and mask & selectors.EVENT_READ:
                self._read(conn)

    def _handshake(self, conn: _Conn) -> None:
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._watch(conn, selectors.EVENT_WRITE)
            return
        except (OSError, ssl.SSLError):
            self._closed(conn, "handshake")
            return
        self._established(conn)

    def _established(self, conn: _Conn) -> None:
        conn.state, conn.established_at = "held", time.monotonic()
        self._bump(conn.kind, "held")
        self.events.append((conn.established_at, "open"))
        self._watch(conn, selectors.EVENT_READ)
        if conn.kind == "tls_half_open":
            conn.out = self.hello
        elif conn.kind == "slow_header":
            conn.out = SLOW_HEADER_HEAD
        elif conn.kind == "slow_body":
            conn.out = SLOW_BODY_HEAD
        if conn.kind in ("slow_header", "slow_body"):
            heapq.heappush(self.timers, (time.monotonic() + random.uniform(0.2, self.trickle_s), conn.seq, conn))
        if conn.out:
            self._flush(conn)

    def _fire_timers(self, now: float) -> None:
        while self.timers and self.timers[0][0] <= now:
            _, _, conn = heapq.heappop(self.timers)
            if conn.sock is None or conn.state != "held":
                continue  # closed since; its replacement has its own timer
            if conn.kind == "slow_header":
                chunk = SLOW_HEADER_TRICKLE[conn.trickle_pos:conn.trickle_pos + 1]
            else:
                chunk = SLOW_BODY_TRICKLE[conn.trickle_pos:conn.trickle_pos + 3]
            conn.trickle_pos += len(chunk)
            conn.out += chunk
            self._flush(conn)
            if conn.sock is not None:
                heapq.heappush(self.timers, (now + self.trickle_s * random.uniform(0.9, 1.1), conn.seq, conn))

    def _flush(self, conn: _Conn) -> None:
        while conn.out and conn.sock is not None:
            try:
                n = conn.sock.send(conn.out)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                self._watch(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)
                return
            except (OSError, ssl.SSLError):
                self._closed(conn, "send")
                return
            conn.out = conn.out[n:]
        if conn.sock is not None:
            self._watch(conn, selectors.EVENT_READ)

    def _read(self, conn: _Conn) -> None:
        while conn.sock is not None:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (OSError, ssl.SSLError):
                self._closed(conn, "reset")
                return
            if not data:
                self._closed(conn, "eof")
                return
            if len(conn.got) < 200:
                conn.got += data[:200]

    def _discard(self, conn: _Conn) -> None:
        self.connecting.discard(conn)
        if conn.sock is not None:
            if conn.registered:
                with contextlib.suppress(Exception):
                    self.sel.unregister(conn.sock)
            with contextlib.suppress(OSError):
                conn.sock.close()
        conn.sock, conn.registered = None, False
        if self.live.get((conn.kind, conn.slot)) is conn:
            del self.live[(conn.kind, conn.slot)]

    def _schedule_reopen(self, conn: _Conn) -> None:
        if not self.reopen or self.stop_event.is_set():
            return
        if self.reopens_used >= self.max_reopens:
            self.reopen_refused += 1
            return
        self.reopens_used += 1
        self._bump(conn.kind, "reopened")
        self.to_open.append(self._new(conn.kind, conn.slot))

    def _failed_connect(self, conn: _Conn) -> None:
        self._bump(conn.kind, "connect_failed")
        self._discard(conn)
        self._schedule_reopen(conn)

    def _closed(self, conn: _Conn, how: str) -> None:
        now = time.monotonic()
        if conn.state == "held":
            self.events.append((now, "close"))
            with self.lock:
                self.stats[conn.kind]["held"] -= 1
                self.stats[conn.kind]["closed_by_server"] += 1
                self.lifetimes[conn.kind].append(now - conn.established_at)
                if conn.got:
                    self.replies[conn.kind][conn.got.split(b"\r\n", 1)[0].decode(errors="replace")[:60]] += 1
        elif conn.state == "handshake":
            self._bump(conn.kind, "closed_in_handshake")
        else:
            self._bump(conn.kind, "connect_failed")
        conn.state = "closed"
        self._discard(conn)
        self._schedule_reopen(conn)


# ---------------------------------------------------------------------------
# Single blocking probes (tests 2 to 4)
# ---------------------------------------------------------------------------

def connect(port: int, timeout: float = 5) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def is_open(s: socket.socket) -> bool:
    """True while the peer has not closed (nothing readable, or data)."""
    s.setblocking(False)
    try:
        data = s.recv(65536, socket.MSG_PEEK)
        return bool(data)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def wait_closed(s: socket.socket, timeout: float, trickle: bytes = b"", every_s: float = 0.1,
                since: float | None = None) -> tuple[float | None, bytes]:
    """Waits up to `timeout` for the server to close `s`, sending one byte of
    `trickle` every `every_s` meanwhile. Returns (seconds from `since` (or
    now) to the close, or None if still open; what the server sent)."""
    import select
    start = time.monotonic() if since is None else since
    deadline = time.monotonic() + timeout
    got = b""
    pos = 0
    next_send = time.monotonic() + every_s
    s.setblocking(False)
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None, got
            if trickle and now >= next_send and pos < len(trickle):
                try:
                    s.send(trickle[pos:pos + 1])
                    pos += 1
                except BlockingIOError:
                    pass
                except OSError:
                    return time.monotonic() - start, got
                next_send = now + every_s
            r, _, _ = select.select([s], [], [], max(0.0, min(deadline, next_send) - time.monotonic()))
            if r:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    return time.monotonic() - start, got
                if not data:
                    return time.monotonic() - start, got
                got += data
    finally:
        with contextlib.suppress(OSError):
            s.setblocking(True)


def read_status(s: socket.socket, timeout: float) -> tuple[int | None, bytes, float]:
    """Reads until a complete status line arrives (or EOF, or `timeout`):
    (status or None, bytes read, seconds taken)."""
    start = time.monotonic()
    deadline = start + timeout
    got = b""
    while b"\r\n" not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not data:
            break
        got += data
    took = time.monotonic() - start
    line = got.split(b"\r\n", 1)[0]
    parts = line.split()
    status = int(parts[1]) if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() else None
    return status, got, took


# ---------------------------------------------------------------------------
# 1. A real gateway's alerts get through 2000 hostile connections
# ---------------------------------------------------------------------------

PRESSES = 100
PER_KIND = 500
DEFAULT_HEADER_TIMEOUT_S = 10.0
# One press (and its restore) every ~0.3 s: two alerts per press, ~7 alerts/s
# with the heartbeats. Much faster and the test measures how many alerts a
# second the gateway's one-at-a-time delivery gets through, not how long one
# press takes to arrive.
PRESS_HOLD_S = 0.1
PRESS_GAP_S = 0.2


@dataclass
class HostileRun:
    figures: dict
    text: str  # the figures as JSON, for assertion messages
    rows: list[dict]
    latencies_ms: list[float]
    held_samples: list[int]


def measure_under_hostile_load(tmp_path: Path, procs: c.ProcessManager, *, limits: dict[str, int] | None = None,
                               per_kind: int = PER_KIND, presses: int = PRESSES,
                               ramp_s: float = DEFAULT_HEADER_TIMEOUT_S, hold_s: float = PRESS_HOLD_S,
                               gap_s: float = PRESS_GAP_S, engine=None) -> HostileRun:
    """A TLS receiver (with `limits`, None: the defaults; on `engine`), `per_kind`
    hostile connections of each kind opened evenly over `ramp_s` and kept
    open, then a real gateway started and `presses` presses made, each held
    `hold_s` and followed by `gap_s` of quiet. The figures are printed and
    written to .build/hostile-clients.json."""
    soft, hard = raise_nofile()
    assert soft >= 4 * per_kind + 500, (
        f"RLIMIT_NOFILE is {soft} (hard {hard}): this test needs {4 * per_kind + 500} descriptors")

    certs = make_dev_certs(tmp_path / "certs")
    key = c.keygen(tmp_path / "gateway.key")
    rx = start_limited_receiver(procs, tmp_path, [key.public_b64], certs=certs, limits=limits, engine=engine)
    base_sockets = socket_fds(rx.proc.popen.pid)

    # Opened evenly over the header timeout, so the receiver's deadlines
    # (and the re-opens after them) are spread out too: a steady hostile
    # population, not all of it connecting again at once every 10 s.
    hostile = HostileClients(rx.port, {k: per_kind for k in HostileClients.KINDS}, tls=True, trickle_s=2.0,
                             max_reopens=40 * per_kind, ramp_s=ramp_s).start()
    figures: dict = {"limits": limits or "defaults", "ramp_s": ramp_s, "press_hold_s": hold_s, "press_gap_s": gap_s,
                     "cpus": os.cpu_count(),
                     "loadavg_1m_at_start": round(os.getloadavg()[0], 2)}
    button = None
    try:
        hostile.wait_held(int(0.95 * 4 * per_kind), timeout=ramp_s + 30)
        figures["receiver_sockets_when_held"] = socket_fds(rx.proc.popen.pid) - base_sockets

        # The gateway starts (TLS handshake and all) with the hostile load in place.
        setup, gw = start_gateway_for(procs, tmp_path, key, rx)
        button = c.Button(setup.fifo)

        held_samples: list[int] = []
        rx_samples: list[int] = []
        cpu_before = {"receiver": cpu_seconds(rx.proc.popen.pid), "gateway": cpu_seconds(gw.popen.pid),
                      "test_process": cpu_seconds(os.getpid())}
        threads_before = thread_cpu_seconds(rx.proc.popen.pid)
        overflows_before = listen_overflows()
        started = time.monotonic()
        wall_minus_mono_ns = time.time_ns() - time.monotonic_ns()
        for i in range(presses):
            button.click(hold_s=hold_s, gap_s=gap_s)
            hostile.check()
            held_samples.append(hostile.total_held())
            if i % 5 == 0:
                rx_samples.append(socket_fds(rx.proc.popen.pid) - base_sockets)
        pressing_s = time.monotonic() - started
        cpu_after = {"receiver": cpu_seconds(rx.proc.popen.pid), "gateway": cpu_seconds(gw.popen.pid),
                     "test_process": cpu_seconds(os.getpid())}
        threads_after = thread_cpu_seconds(rx.proc.popen.pid)
        overflows_after = listen_overflows()
        busiest = sorted(((round(v - threads_before.get(k, 0.0), 2), k) for k, v in threads_after.items()), reverse=True)

        def all_stored():
            return sum(r["kind"] == "restore" for r in c.receiver_rows(rx.database)) >= presses

        deadline = time.monotonic() + 30  # bounded; a shortfall is reported with the figures
        while not all_stored() and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = c.receiver_rows(rx.database)
        held_samples.append(hostile.total_held())
        summary = hostile.summary()
        # The slowest presses, and the hostile churn in the 2 s before each arrived.
        slow = []
        for r in rows:
            lat_ms = (r["received_at_ns"] - r["occurred_at_ns"]) / 1e6
            if r["kind"] == "panic" and lat_ms > 250:
                occurred = (r["occurred_at_ns"] - wall_minus_mono_ns) / 1e9
                received = (r["received_at_ns"] - wall_minus_mono_ns) / 1e9
                slow.append({"sequence": r["sequence"], "latency_ms": round(lat_ms, 1),
                             "pressed_at_s": round(occurred - started, 2),
                             "hostile_churn_in_2s_before_receipt": hostile.events_between(received - 2, received)})
        churn = [hostile.events_between(started + k, started + k + 1)["opened"] for k in range(math.ceil(pressing_s))]
    finally:
        if button is not None:
            button.close()
        hostile.stop()

    panics = [r for r in rows if r["kind"] == "panic"]
    restores = [r for r in rows if r["kind"] == "restore"]
    sequences = [r["sequence"] for r in rows]
    latencies_ms = [(r["received_at_ns"] - r["occurred_at_ns"]) / 1e6 for r in panics]
    figures.update({
        "hostile": summary,
        "held_during_presses": {"min": min(held_samples), "mean": round(statistics.mean(held_samples), 1),
                                "max": max(held_samples)},
        "receiver_sockets_during_presses": {"min": min(rx_samples), "max": max(rx_samples)},
        "presses": presses, "pressing_s": round(pressing_s, 2), "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "cpu_s_while_pressing": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after},
        "receiver_busiest_threads_cpu_s": [f"{name}: {sec}" for sec, name in busiest[:4]],
        # Accept queue full: a new connection (the gateway's too) waits for a SYN retransmit (1 s, 3 s...).
        "listen_overflows_while_pressing": (None if overflows_before is None or overflows_after is None
                                            else overflows_after - overflows_before),
        "hostile_reopened_per_second_while_pressing": churn,
        "slow_presses_over_250ms": slow[:15],
        "slow_presses_over_250ms_count": len(slow),
        "stored": {"panic": len(panics), "restore": len(restores), "rows": len(rows),
                   "sequences": f"{min(sequences)}..{max(sequences)}" if sequences else "none"},
        "latency_ms": ({"p50": round(percentile(latencies_ms, 50), 1), "p99": round(percentile(latencies_ms, 99), 1),
                        "max": round(max(latencies_ms), 1)} if latencies_ms else None),
    })
    figures["engine"] = "postgresql" if engine is not None else "sqlite"
    text = json.dumps(figures, indent=2, sort_keys=True)
    print("\nhostile-clients figures:\n" + text)
    if FIGURES_FILE.parent.is_dir():
        # One file per engine: hostile-clients.json (SQLite), hostile-clients-postgresql.json.
        out = FIGURES_FILE if engine is None else FIGURES_FILE.with_name("hostile-clients-postgresql.json")
        out.write_text(text + "\n")
    return HostileRun(figures=figures, text=text, rows=rows, latencies_ms=latencies_ms, held_samples=held_samples)


def test_legitimate_alerts_get_through_while_2000_hostile_connections_are_held(tmp_path, procs, receiver_engine):
    run = measure_under_hostile_load(tmp_path, procs, engine=receiver_engine)  # the default [limits]
    text, total = run.text, 4 * PER_KIND
    # The premise: the hostile load was really there for the whole measurement.
    assert statistics.mean(run.held_samples) >= 0.85 * total and min(run.held_samples) >= 0.25 * total, (
        f"the hostile connections were not held while the gateway pressed (need mean >= {0.85 * total:.0f} "
        f"and min >= {0.25 * total:.0f}); figures:\n{text}")
    assert run.figures["hostile"]["_reopens_refused"] == 0, (
        f"re-open budget ran out: the server churns connections; figures:\n{text}")
    # No loss: every press and its restore, under consecutive sequence numbers.
    kinds = Counter(r["kind"] for r in run.rows)
    assert kinds["panic"] == PRESSES and kinds["restore"] == PRESSES, (
        f"{kinds['panic']} of {PRESSES} presses and {kinds['restore']} restores stored under hostile load; "
        f"figures:\n{text}")
    sequences = [r["sequence"] for r in run.rows]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), (
        f"gaps in the stored sequences: {sequences}")
    p99 = percentile(run.latencies_ms, 99)
    assert p99 < 1000, f"press -> receiver p99 latency {p99:.0f} ms under hostile load (limit 1000 ms); figures:\n{text}"


# ---------------------------------------------------------------------------
# 2. Connections that never complete a head or a body are closed
# ---------------------------------------------------------------------------

def test_idle_connection_is_closed_after_header_timeout(tmp_path, procs, receiver_engine):
    key = c.keygen(tmp_path / "gateway.key")
    rx = start_limited_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine,
                                limits={"header_timeout_ms": 500, "body_timeout_ms": 500})
    results = {}

    # Idle: connect, send nothing.
    s = connect(rx.port)
    t0 = time.monotonic()
    try:
        closed_after, got = wait_closed(s, 3.0, since=t0)
    finally:
        s.close()
    results["idle"] = (closed_after, got)

    # Slow header: a byte every 100 ms, so only a total deadline can stop it.
    s = connect(rx.port)
    t0 = time.monotonic()
    try:
        s.sendall(SLOW_HEADER_HEAD)
        closed_after, got = wait_closed(s, 3.0, trickle=SLOW_HEADER_TRICKLE, every_s=0.1, since=t0)
    finally:
        s.close()
    results["slow_header"] = (closed_after, got)

    # Slow body: complete head, then a body byte every 100 ms.
    s = connect(rx.port)
    try:
        s.sendall(SLOW_BODY_HEAD)
        t0 = time.monotonic()
        closed_after, got = wait_closed(s, 3.0, trickle=SLOW_BODY_TRICKLE, every_s=0.1, since=t0)
    finally:
        s.close()
    results["slow_body"] = (closed_after, got)

    report = {k: (None if v[0] is None else round(v[0], 3), v[1][:80]) for k, v in results.items()}
    print(f"\nclosed after (s), first bytes sent back: {report}")
    for kind, (closed_after, got) in results.items():
        assert closed_after is not None, (
            f"{kind}: the server did not close the connection within 3 s with header_timeout_ms = 500 and "
            f"body_timeout_ms = 500 (server sent {got[:200]!r}); all: {report}")
        assert 0.4 <= closed_after <= 2.0, (
            f"{kind}: closed {closed_after:.3f} s after {'the head' if kind == 'slow_body' else 'connect'}; "
            f"expected about 0.5 s (between 0.4 and 2.0); all: {report}")
        if got:
            assert got.startswith(b"HTTP/1.1 408"), f"{kind}: the server wrote {got[:200]!r} before closing; only a 408 fits"
    # A legitimate client is still served.
    r = requests.get(f"{rx.base_url}/v1/health", timeout=5)
    assert r.status_code == 200, f"health after the timeouts: {r.status_code}"


# ---------------------------------------------------------------------------
# 3. A Content-Length above max_body_bytes is refused before the body
# ---------------------------------------------------------------------------

def post_head(content_length: int) -> bytes:
    return (f"POST /v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {content_length}\r\n\r\n").encode()


def test_oversized_content_length_is_refused_at_once(tmp_path, procs, receiver_engine):
    key = c.keygen(tmp_path / "gateway.key")
    seen = []

    # The default limit (64 KiB), no [limits] table.
    rx = start_limited_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine)
    s = connect(rx.port)
    try:
        s.sendall(post_head(1_000_000_000))
        status, got, took = read_status(s, timeout=2.0)
    finally:
        s.close()
    seen.append(("default, 1000000000", status, round(took, 3)))
    assert status == 413, (
        f"Content-Length: 1000000000 with no body sent: expected 413 within 2 s, got {status} after {took:.2f} s "
        f"({got[:200]!r})")

    # A configured limit is the one applied.
    rx2 = start_limited_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine, limits={"max_body_bytes": 4096})
    for length in (1_000_000_000, 4097):
        s = connect(rx2.port)
        try:
            s.sendall(post_head(length))
            status, got, took = read_status(s, timeout=2.0)
        finally:
            s.close()
        seen.append((f"max_body_bytes = 4096, {length}", status, round(took, 3)))
        assert status == 413, (
            f"max_body_bytes = 4096, Content-Length: {length}, no body sent: expected 413 within 2 s, got {status} "
            f"after {took:.2f} s ({got[:200]!r})")
    # At the limit the body is read and judged (unsigned: refused, but not as too large).
    s = connect(rx2.port)
    try:
        s.sendall(post_head(4096) + b"x" * 4096)
        status, got, took = read_status(s, timeout=5.0)
    finally:
        s.close()
    seen.append(("max_body_bytes = 4096, 4096 sent", status, round(took, 3)))
    print(f"\n(case, status, seconds): {seen}")
    assert status is not None and status != 413 and 400 <= status < 500, (
        f"a 4096-byte unsigned body with max_body_bytes = 4096: expected a 4xx other than 413, got {status} "
        f"({got[:200]!r})")


# ---------------------------------------------------------------------------
# 4. The pending-connection cap closes the oldest pending connection
# ---------------------------------------------------------------------------

def test_pending_connection_cap_evicts_the_oldest(tmp_path, procs, receiver_engine):
    cap = 50
    key = c.keygen(tmp_path / "gateway.key")
    rx = start_limited_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine, limits={"max_pending_connections": cap})
    setup, gw = start_gateway_for(procs, tmp_path, key, rx)  # its connection is an authenticated one
    pid = rx.proc.popen.pid
    time.sleep(0.3)  # the health probes' connections are gone
    base = socket_fds(pid)

    held: list[socket.socket] = []
    button = None
    flood: list[socket.socket] = []
    try:
        for i in range(cap):
            held.append(connect(rx.port))
            # Accepted before the next one, so the server's age order is ours.
            c.wait_until(lambda: accepted_by(pid, rx.port, held[-1]), 5,
                         f"the receiver to accept idle connection {i + 1} of {cap}",
                         interval=0.002, diagnostics=rx.proc.describe)
        time.sleep(0.3)
        still = [i for i, s in enumerate(held) if is_open(s)]
        assert len(still) == cap, (
            f"with max_pending_connections = {cap}, only {len(still)} of {cap} idle connections stayed open "
            f"(closed: {sorted(set(range(cap)) - set(still))})")

        newest = connect(rx.port)
        held.append(newest)
        t0 = time.monotonic()
        closed: list[int] = []
        while time.monotonic() - t0 < 3.0 and not closed:
            closed = [i for i, s in enumerate(held) if not is_open(s)]
            time.sleep(0.01)
        closed_after = time.monotonic() - t0
        # The receiver admits a connection on the event loop it is handed to
        # (one per core), so two accepted a few milliseconds apart can be
        # admitted in the other order when one loop is late: "the oldest" is
        # the oldest by admission, which is one of the first few accepted.
        # (In CI the first accepted once stayed open past 3 s on a loaded machine.)
        assert closed, (
            f"opening connection {cap + 1} with max_pending_connections = {cap}: none of the {cap} idle ones "
            f"was closed within 3 s")
        assert closed_after <= 2.0, (
            f"opening connection {cap + 1} with max_pending_connections = {cap}: one was closed only after "
            f"{closed_after:.2f} s")
        time.sleep(0.2)
        closed = [i for i, s in enumerate(held) if not is_open(s)]
        assert len(closed) == 1 and closed[0] < 5, (
            f"opening connection {cap + 1} with max_pending_connections = {cap}: expected exactly one of the "
            f"oldest (among the first 5 accepted) to be closed; closed: {closed} (0-based, {cap} is the newest)")

        # A flood of 200 more idle connections while the gateway raises an alert.
        before = len(c.receiver_rows(rx.database))
        button = c.Button(setup.fifo)
        t_flood = time.monotonic()
        for i in range(200):
            flood.append(connect(rx.port))
            if i == 100:
                button.press()
            time.sleep(0.005)
        flood_s = time.monotonic() - t_flood

        def stored():
            rows = c.receiver_rows(rx.database)[before:]
            return [r for r in rows if r["kind"] == "panic"] or None

        panic = c.wait_until(stored, 10, "the press made during the flood to be stored at the receiver",
                             diagnostics=lambda: gw.describe() + "\n" + rx.proc.describe())[0]
        latency_ms = (panic["received_at_ns"] - panic["occurred_at_ns"]) / 1e6
        time.sleep(0.5)
        ours = held + flood
        open_now = [i for i, s in enumerate(ours) if is_open(s)]
        print(f"\nflood of 200 in {flood_s:.2f} s; press stored after {latency_ms:.0f} ms; "
              f"{len(open_now)} of {len(ours)} idle connections open, receiver sockets {socket_fds(pid) - base} "
              f"above the baseline")
        assert latency_ms < 2000, f"the press made during the flood took {latency_ms:.0f} ms to be stored"
        assert len(open_now) <= cap, (
            f"{len(open_now)} idle (never authenticated) connections are open, above max_pending_connections = {cap}")
        assert is_open(flood[-1]), "the newest idle connection was closed: the cap must evict the oldest, not the newest"
    finally:
        if button is not None:
            button.close()
        for s in held + flood:
            with contextlib.suppress(OSError):
                s.close()


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_of_unfinished_bodies_is_returned_after_their_connections_close(tmp_path, procs, receiver_engine):
    """Issue 11: 1,000 connections each holding 60 KiB of an unfinished body
    grew the receiver by ~128 KiB each, and closing them gave none of it back
    to the system (glibc kept it). The receiver trims its heap every 10 s."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    key = c.keygen(tmp_path / "gateway.key")
    rx = c.start_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine)
    pid = rx.proc.popen.pid
    before = _rss_kib(pid)
    socks = []
    head = (f"POST /v1/alerts HTTP/1.1\r\nHost: 127.0.0.1:{rx.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 65000\r\n\r\n").encode()
    try:
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", rx.port), timeout=5)
            s.sendall(head + b"x" * 60000)
            socks.append(s)
        time.sleep(2)
        held = _rss_kib(pid)
    finally:
        for s in socks:
            s.close()
    grew = held - before
    assert grew > 40_000, f"the bodies were not buffered as expected (grew {grew} KiB); the test measures nothing"
    deadline = time.monotonic() + 25
    after = _rss_kib(pid)
    while time.monotonic() < deadline and after - before > grew // 4:
        time.sleep(1)
        after = _rss_kib(pid)
    print(f"receiver RSS KiB: before {before}, 1000 unfinished 60 KiB bodies {held} (+{grew // 1000} KiB each), after close {after}")
    assert after - before <= grew // 4, (
        f"RSS stayed at {after} KiB after the connections closed (before {before}, held {held}): memory not returned")
    assert rx.proc.alive()
