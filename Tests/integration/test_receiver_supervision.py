"""Receiver supervision: a gateway whose heartbeats stop is marked silent
within `silent_after_intervals` heartbeat intervals, and back once they
resume; `status --json` and `tail --no-follow` show it."""

from __future__ import annotations

import re
import time

from conftest import (
    GATEWAY_ID,
    keygen,
    make_gateway,
    receiver_status,
    receiver_tail,
    start_gateway,
    start_receiver,
    wait_until,
)

INTERVAL_S = 1
SILENT_AFTER = 2
# Silence is declared once more than INTERVAL_S * SILENT_AFTER passed since the
# last heartbeat; the receiver checks once a second. Allow generous slack.
SILENCE_DEADLINE_S = 6.0


def gateway_row(db):
    rows = [r for r in receiver_status(db) if r["gateway_id"] == GATEWAY_ID]
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def tail_lines(db, kind: str) -> list[str]:
    return [l for l in receiver_tail(db).splitlines() if re.search(rf"\s{GATEWAY_ID}\s+{kind}\s", l)]


def test_silent_and_back(tmp_path, procs, receiver_engine):
    key = keygen(tmp_path / "gateway.key")
    rx = start_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine, silent_after_intervals=SILENT_AFTER)
    setup = make_gateway(tmp_path, rx.base_url, key=key, heartbeat_interval_s=INTERVAL_S)
    gw = start_gateway(procs, setup)

    def diag():
        return f"status: {receiver_status(rx.database)}\ntail:\n{receiver_tail(rx.database)}\n{gw.describe()}\n{rx.proc.describe()}"

    row = wait_until(lambda: (r := gateway_row(rx.database)) and r["last_heartbeat"] and not r["silent"] and r,
                     15, "status to show the gateway with a heartbeat, not silent", diagnostics=diag)
    assert row["heartbeat_interval_s"] == INTERVAL_S
    assert row["alerts"] == 0 and row["gaps"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row["last_heartbeat"]), row
    assert tail_lines(rx.database, "ONLINE"), receiver_tail(rx.database)
    assert not tail_lines(rx.database, "SILENT")

    # Heartbeats keep the gateway healthy over several intervals.
    time.sleep(SILENT_AFTER * INTERVAL_S + 1.5)
    assert gateway_row(rx.database)["silent"] is False, diag()

    gw.kill9()
    killed_at = time.monotonic()
    wait_until(lambda: gateway_row(rx.database)["silent"] is True, SILENCE_DEADLINE_S,
               f"status to show the gateway silent within {SILENCE_DEADLINE_S} s of SIGKILL", diagnostics=diag)
    silent_after_s = time.monotonic() - killed_at
    print(f"silent after {silent_after_s:.2f} s")
    assert silent_after_s >= SILENT_AFTER * INTERVAL_S - 1, \
        f"declared silent after only {silent_after_s:.1f} s; heartbeats were due every {INTERVAL_S} s"
    silent_lines = tail_lines(rx.database, "SILENT")
    assert len(silent_lines) == 1, receiver_tail(rx.database)
    assert "no heartbeat for" in silent_lines[0]
    assert not tail_lines(rx.database, "BACK")

    # Restart: heartbeats resume, the gateway is back.
    gw2 = start_gateway(procs, setup)
    wait_until(lambda: gateway_row(rx.database)["silent"] is False, 15,
               "status to show the gateway not silent after restart", diagnostics=diag)
    back = tail_lines(rx.database, "BACK")
    assert len(back) == 1, receiver_tail(rx.database)
    assert "heartbeats resumed" in back[0]
    assert gw2.alive()

    # Event order in the tail: ONLINE, then SILENT, then BACK.
    text = receiver_tail(rx.database)
    order = [m.group(1) for m in re.finditer(rf"\s{GATEWAY_ID}\s+(ONLINE|SILENT|BACK)\s", text)]
    assert order == ["ONLINE", "SILENT", "BACK"], text
