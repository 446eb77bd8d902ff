"""A hostile uplink (issue 14, item 3): a fault-injecting HTTP proxy between
gateway and receiver — resets before the request, resets after the receiver
stored the alert but before its answer arrives, stalls, a byte a second,
5xx, 429 with Retry-After — while the button is pressed without pause, the
gateway is killed with SIGKILL every few seconds and the receiver once.

Every alert committed to the outbox (read from the outbox file after each
kill) must reach the receiver exactly once, in sequence order; a retry of an
alert the receiver stored is answered 200 (a duplicate), not stored again;
nothing the receiver answered 2xx is lost across its own kill; delivery
resumes within one back-off interval once the faults stop."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time

import conftest as c

MODES = ["pass", "reset-on-connect", "reset-before-request", "reset-after-store", "stall", "one-byte-a-second",
         "http-500", "http-429"]
BACKOFF_MAX_MS = 500
REQUEST_TIMEOUT_MS = 1000


def _rst(s: socket.socket) -> None:
    """Closes with a TCP reset (SO_LINGER 0) instead of a FIN."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        s.close()


def _read_message(s: socket.socket, buf: bytearray) -> bytes | None:
    """One HTTP/1.1 message (head and Content-Length body) from `s`, with
    what was already read in `buf`; None when the peer closed first."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head_end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:head_end]).split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(buf) < head_end + length:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    msg = bytes(buf[:head_end + length])
    del buf[:head_end + length]
    return msg


class FaultProxy:
    """Plain-HTTP proxy on loopback whose behaviour for the next request is
    `mode`; records, per request, the mode, the path, the alert id and the
    status the gateway got (None: none reached it)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.lock = threading.Lock()
        self.records: list[dict] = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str) -> None:
        with self.lock:
            self.mode = mode

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            self.listener.close()

    def _record(self, rec: dict) -> dict:
        """Keeps `rec`; the caller fills in its outcome later (in place)."""
        with self.lock:
            self.records.append(rec)
        return rec

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                mode = self.mode
            if mode == "reset-on-connect":
                self._record({"mode": mode, "path": None, "alert_id": None, "status": None})
                _rst(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        buf = bytearray()
        try:
            while True:
                request = _read_message(client, buf)
                if request is None:
                    client.close()
                    return
                with self.lock:
                    mode = self.mode
                first = request.split(b"\r\n", 1)[0].decode(errors="replace")
                path = first.split(" ")[1] if " " in first else first
                # One record per alert carried: a backlog goes in batches
                # (/v1/alerts/batch, one alert per line, answered per alert).
                alert_ids: list = []
                with contextlib.suppress(Exception):
                    body = request[request.index(b"\r\n\r\n") + 4:]
                    if path == "/v1/alerts":
                        alert_ids = [json.loads(body)["id"]]
                    elif path == "/v1/alerts/batch":
                        alert_ids = [json.loads(line)["id"] for line in body.split(b"\n") if line.strip()]
                recs = [self._record({"mode": mode, "path": path, "alert_id": a, "status": None}) for a in alert_ids or [None]]
                rec = _Records(recs)
                if mode == "reset-before-request":
                    _rst(client)
                    return
                if mode == "stall":
                    time.sleep(REQUEST_TIMEOUT_MS / 1000 * 3)
                    _rst(client)
                    return
                if mode in ("http-500", "http-429"):
                    code, extra = (500, b"") if mode == "http-500" else (429, b"Retry-After: 1\r\n")
                    body = b'{"error":"injected"}'
                    client.sendall(b"HTTP/1.1 %d Injected\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
                                   % (code, extra, len(body), body))
                    rec["status"] = code
                    continue
                # Forwarded: pass, reset-after-store, one-byte-a-second.
                try:
                    up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                except OSError:
                    _rst(client)  # the receiver is down: the gateway sees a reset
                    return
                with up:
                    up.sendall(request)
                    response = _read_message(up, bytearray())
                if response is None:
                    _rst(client)
                    return
                status = int(response.split(b" ", 2)[1])
                rec.answered(status, response)
                if mode == "reset-after-store":
                    rec["stored_status"] = status
                    _rst(client)
                    return
                if mode == "one-byte-a-second":
                    rec["stored_status"] = status
                    for i in range(len(response)):
                        client.send(response[i:i + 1])
                        time.sleep(1.0)
                    return
                client.sendall(response)
                rec["status"] = status
        except OSError:
            with contextlib.suppress(OSError):
                client.close()


class _Records:
    """The records of one request's alerts, set together; a batch's 200
    gives each alert its own status from the answer's results."""

    def __init__(self, recs: list) -> None:
        self.recs = recs
        self.per_alert: list | None = None

    def answered(self, status: int, response: bytes) -> None:
        if status == 200 and len(self.recs) > 0 and self.recs[0]["path"] == "/v1/alerts/batch":
            with contextlib.suppress(Exception):
                results = json.loads(response[response.index(b"\r\n\r\n") + 4:])["results"]
                if len(results) == len(self.recs):
                    self.per_alert = [r["status"] for r in results]

    def __setitem__(self, key: str, status: int) -> None:
        for i, r in enumerate(self.recs):
            r[key] = self.per_alert[i] if self.per_alert is not None else status


class Presser:
    """Clicks the button every `period` seconds from a thread, reopening the
    FIFO whenever the gateway was restarted (a killed reader breaks it)."""

    def __init__(self, fifo, period: float = 0.15):
        self.fifo = fifo
        self.period = period
        self.clicks = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        button = None
        while not self.stopping:
            try:
                if button is None:
                    button = c.Button(self.fifo, timeout=15)
                button.click(hold_s=0.04, gap_s=self.period)
                self.clicks += 1
            except Exception:  # a restarted gateway breaks the FIFO; reopen it
                if button is not None:
                    button.close()
                button = None
                time.sleep(0.05)
        if button is not None:
            button.close()

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(timeout=20)


def _outbox_ids(outbox) -> dict[int, str]:
    return {seq: aid for seq, aid in c.query(outbox, "SELECT sequence, id FROM alerts")}


def test_faults_kills_and_a_press_storm_lose_nothing_and_store_nothing_twice(tmp_path, procs):
    key = c.keygen(tmp_path / "gateway.key")
    # The gateway signs for the proxy's address (the URL it was given), as it
    # would for a reverse proxy in front of a receiver: the receiver names it.
    rx_port = c.free_port()
    proxy = FaultProxy(rx_port)
    authorities = [f"127.0.0.1:{proxy.port}", f"127.0.0.1:{rx_port}"]
    rx = c.start_receiver(procs, tmp_path, [key.public_b64], port=rx_port, authorities=authorities)
    setup = c.make_gateway(tmp_path, f"http://127.0.0.1:{proxy.port}", key=key)
    setup.config.write_text(setup.config.read_text().replace(
        "backoff_max_ms = 500", f"backoff_max_ms = {BACKOFF_MAX_MS}\nrequest_timeout_ms = {REQUEST_TIMEOUT_MS}\n"
                                "connect_timeout_ms = 500"))
    gw = c.start_gateway(procs, setup)
    presser = Presser(setup.fifo)
    committed: dict[int, str] = {}
    kills = 0
    receiver_killed = False
    schedule = ["pass", "reset-on-connect", "pass", "reset-before-request", "reset-after-store", "pass", "stall",
                "http-500", "pass", "http-429", "one-byte-a-second", "pass", "reset-after-store", "reset-before-request",
                "pass", "http-500"]
    try:
        started = time.monotonic()
        for i, mode in enumerate(schedule):
            proxy.set(mode)
            time.sleep(1.5)
            if i % 3 == 2:
                # SIGKILL the gateway; what its outbox holds must all arrive.
                gw.kill9()
                kills += 1
                committed.update(_outbox_ids(setup.outbox))
                gw = c.start_gateway(procs, setup)
            if i == 8 and not receiver_killed:
                rx.proc.kill9()
                receiver_killed = True
                rx = c.start_receiver(procs, tmp_path, [key.public_b64], port=rx.port, authorities=authorities)
        storm_s = time.monotonic() - started
    finally:
        presser.stop()
    # The last fault was a 500: the gateway is backing off, nothing in flight.
    fault_end = time.monotonic()
    proxy.set("pass")
    before = len(c.receiver_rows(rx.database))

    def resumed():
        return len(c.receiver_rows(rx.database)) > before or None

    pending = c.query(setup.outbox, "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")[0][0]
    if pending:
        c.wait_until(resumed, 10, "delivery to resume after the faults end", interval=0.01,
                     diagnostics=lambda: gw.describe())
        resumed_after_ms = (time.monotonic() - fault_end) * 1000
    else:
        resumed_after_ms = 0.0

    def drained():
        return c.query(setup.outbox, "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")[0][0] == 0 or None

    c.wait_until(drained, 60, "the outbox to drain", diagnostics=lambda: gw.describe() + "\n" + rx.proc.describe())
    committed.update(_outbox_ids(setup.outbox))
    rows = c.receiver_rows(rx.database)
    proxy.stop()

    at_receiver = {r["sequence"]: r["id"] for r in rows}
    lost = sorted(s for s in committed if at_receiver.get(s) != committed[s])
    ids = [r["id"] for r in rows]
    duplicates = len(ids) - len(set(ids))
    extra = sorted(s for s in at_receiver if s not in committed)
    by_arrival = [r["sequence"] for r in sorted(rows, key=lambda r: (r["received_at_ns"], r["sequence"]))]
    with proxy.lock:
        records = [dict(r) for r in proxy.records]
    injected = {m: sum(1 for r in records if r["mode"] == m) for m in MODES}
    stored_then_reset = [r for r in records if r["mode"] in ("reset-after-store", "one-byte-a-second") and r.get("alert_id")
                         and r.get("stored_status") == 201]
    retried = {r["alert_id"]: r for r in records if r["mode"] == "pass" and r.get("alert_id") and r.get("status")}
    answered_2xx = {r["alert_id"] for r in records if r.get("alert_id") and r.get("status") in (200, 201)}
    print(f"\nstorm {storm_s:.1f} s, {presser.clicks} clicks, {kills} gateway kills, 1 receiver kill; faults injected "
          f"{injected}; committed {len(committed)}, at the receiver {len(rows)}, lost {len(lost)}, "
          f"duplicates stored {duplicates}, extra {len(extra)}; stored-then-reset {len(stored_then_reset)}; "
          f"delivery resumed {resumed_after_ms:.0f} ms after the faults ended")

    assert presser.clicks >= 50, f"only {presser.clicks} clicks: the storm did not happen"
    assert all(injected[m] > 0 for m in MODES), f"a fault was never exercised: {injected}"
    assert stored_then_reset, "no alert was stored by the receiver and then reset before its answer"
    assert not lost, f"committed alerts missing or different at the receiver (sequence numbers): {lost[:20]}"
    assert duplicates == 0, f"{duplicates} alerts stored twice"
    assert not extra, f"the receiver holds sequence numbers the outbox never committed: {extra[:20]}"
    assert by_arrival == sorted(by_arrival), f"arrival order is not sequence order: {by_arrival[:40]}"
    # The retry of an alert already stored is a duplicate: answered 200, not 201.
    for r in stored_then_reset:
        again = retried.get(r["alert_id"])
        assert again is None or again["status"] == 200, f"the retry of {r['alert_id']} (stored, then reset) got {again}"
    assert any(retried.get(r["alert_id"], {}).get("status") == 200 for r in stored_then_reset), \
        "no retry of a stored-then-reset alert was seen answered 200"
    # Nothing the receiver answered 2xx is lost across its kill.
    missing_2xx = answered_2xx - set(ids)
    assert not missing_2xx, f"answered 2xx but not in the receiver's database: {sorted(missing_2xx)[:10]}"
    assert resumed_after_ms <= BACKOFF_MAX_MS + 400, (
        f"delivery resumed {resumed_after_ms:.0f} ms after the faults ended; the back-off cap is {BACKOFF_MAX_MS} ms")
