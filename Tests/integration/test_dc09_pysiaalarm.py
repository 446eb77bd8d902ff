"""SIA DC-09 interoperability against pysiaalarm (PyPI), a receiver library
used in production by Home Assistant's SIA integration, run on loopback.

The gateway side is `dc09-send`: the real outbox and the DC-09 delivery service, fed with
the events named on its command line. It prints one JSON line per frame the
receiver acknowledged; pysiaalarm calls back only for frames it accepted.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from conftest import binary, free_port, query, run, wait_until
from dc09_peer import ASCII_KEY, SiaReceiver, acknowledgements, dc09_toml, write_config

EVENTS = ["panic", "duress", "restore-panic", "test"]
# What pysiaalarm makes of each, in both formats (ADM-CID codes are mapped
# back to SIA codes by pysiaalarm itself).
EXPECTED_CODES = ["PA", "HA", "PH", "RX"]


def dc09_send(state: Path, config: Path, *events: str, timeout_s: float = 20, extra: list[str] | None = None):
    args = [binary("dc09-send"), "--config", str(config), "--state-dir", str(state), "--timeout", str(timeout_s)]
    return run(args + (extra or []) + list(events), timeout=timeout_s + 30)


def describe(cp, receiver: SiaReceiver | None = None) -> str:
    text = f"exit {cp.returncode}\n--- stdout\n{cp.stdout}\n--- stderr (tail)\n{cp.stderr[-4000:]}"
    if receiver is not None:
        text += "\n--- received\n" + "\n".join(map(str, receiver.received()))
    return text


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("fmt", ["sia-dcs", "adm-cid"])
def test_events_arrive_with_account_zone_and_sequence(tmp_path: Path, fmt: str, encrypted: bool, transport: str):
    """Panic, duress, restore, test and a supervision frame, each accepted by
    pysiaalarm as the right event, account, zone and sequence number."""
    port = free_port()
    key = ASCII_KEY if encrypted else None
    config = write_config(tmp_path, dc09_toml(port=port, fmt=fmt, transport=transport, key=key, supervision_interval_s=1))
    with SiaReceiver(port, key=key, udp=transport == "udp") as rx:
        cp = dc09_send(tmp_path / "state", config, *EVENTS, extra=["--supervisions", "1", "--zone", "501", "--area", "1"])
        assert cp.returncode == 0, describe(cp, rx)
        wait_until(lambda: len(rx.received()) >= 5, 10, "five events at pysiaalarm", diagnostics=lambda: describe(cp, rx))
        events = rx.received()

    acks = acknowledgements(cp.stdout)
    alert_acks = [a for a in acks if a["what"] == "alert"]
    assert [a["event"] for a in alert_acks] == EVENTS, describe(cp, rx)
    # One frame at a time, numbered from 1 in the order sent.
    assert [a["dc09_sequence"] for a in acks][:5] == [1, 2, 3, 4, 5], describe(cp, rx)

    alerts = events[:4]
    assert [e.code for e in alerts] == EXPECTED_CODES, describe(cp, rx)
    assert [e.sequence for e in alerts] == [f"{a['dc09_sequence']:04d}" for a in alert_acks]
    assert all(e.account == "1234" for e in events)
    assert all(e.zone == "501" for e in alerts), [e.zone for e in alerts]
    assert all(e.encrypted == encrypted for e in events)
    assert all(e.receiver == "R0" and e.line == "L0" for e in events)
    # Time of occurrence in [H…]; the frame stamp itself is the sending time.
    assert all(e.x_data and e.x_data.startswith("H") for e in alerts), [e.x_data for e in alerts]
    if fmt == "sia-dcs":
        assert all(e.ri == "1" for e in alerts)  # area
        assert all(e.message_type == "SIA-DCS" for e in alerts)
    else:
        assert all(e.partition == "01" for e in alerts)
        assert all(e.message_type == "ADM-CID" for e in alerts)

    supervision = events[4]
    assert supervision.message_type == "NULL"
    assert supervision.code == "RP"
    assert supervision.sequence == f"{acks[4]['dc09_sequence']:04d}"
    assert acks[4]["what"] == "supervision"


def test_receiver_offline_then_back_after_gateway_restart(tmp_path: Path):
    """Nothing listening: the alerts stay queued. The gateway is restarted,
    the receiver comes up: every alert arrives, in order, and the one tried
    before the restart keeps its sequence number."""
    port = free_port()
    state = tmp_path / "state"
    config = write_config(tmp_path, dc09_toml(port=port, ack_timeout_ms=300))
    first = dc09_send(state, config, "panic", "duress", "restore-panic", timeout_s=2)
    assert first.returncode == 3, describe(first)
    assert "3 alert(s) pending" in first.stderr
    assert acknowledgements(first.stdout) == []
    pending = query(state / "outbox.db", "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
    assert pending == [(3,)]

    with SiaReceiver(port) as rx:
        second = dc09_send(state, config)
        assert second.returncode == 0, describe(second, rx)
        wait_until(lambda: len(rx.received()) >= 3, 10, "three events", diagnostics=lambda: describe(second, rx))
        events = rx.received()
    assert [e.code for e in events] == ["PA", "HA", "PH"]
    assert [e.sequence for e in events] == ["0001", "0002", "0003"]
    assert query(state / "outbox.db", "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'") == [(0,)]


def test_nak_with_receiver_time_corrects_the_clock_and_the_alert_is_accepted(tmp_path: Path):
    """The gateway's clock is 5 minutes slow: pysiaalarm answers NAK with its
    own time, the gateway corrects its offset and the resent frame (same
    sequence number) is accepted."""
    port = free_port()
    config = write_config(tmp_path, dc09_toml(port=port))
    with SiaReceiver(port) as rx:
        cp = dc09_send(tmp_path / "state", config, "panic", extra=["--clock-skew-s", "-300", "--log-level", "notice"])
        assert cp.returncode == 0, describe(cp, rx)
        wait_until(lambda: rx.received(), 10, "the panic at pysiaalarm", diagnostics=lambda: describe(cp, rx))
        events = rx.received()
    assert [e.code for e in events] == ["PA"]
    assert events[0].sequence == "0001"
    assert "clock offset corrected" in cp.stderr, cp.stderr
    stamp = events[0].timestamp
    assert abs(stamp.timestamp() - time.time()) < 30, stamp


def test_unknown_account_is_refused_and_stays_queued(tmp_path: Path):
    """pysiaalarm answers a bare "NAK" to an account it does not know: the
    alert is not delivered, stays queued, and says why."""
    port = free_port()
    state = tmp_path / "state"
    config = write_config(tmp_path, dc09_toml(port=port, account="1234"))
    with SiaReceiver(port, account="9999") as rx:
        cp = dc09_send(state, config, "panic", timeout_s=2)
        assert rx.received() == []
    assert cp.returncode == 3, describe(cp)
    assert "does not know account 1234" in cp.stderr
    rows = query(state / "outbox.db", "SELECT state, last_error FROM deliveries")
    assert len(rows) == 1 and rows[0][0] == "pending"
    assert "does not know account 1234" in rows[0][1]


def test_primary_down_backup_up_then_primary_back(tmp_path: Path):
    """Primary down, backup up: the alert and a communications-trouble event
    (YS) arrive at the backup. Primary back: the restore (YK) arrives there."""
    primary_port = free_port()
    backup_port = free_port()
    config = write_config(tmp_path, dc09_toml(port=primary_port, backup_port=backup_port, failover_after=1, ack_timeout_ms=500))
    args = [binary("dc09-send"), "--config", str(config), "--state-dir", str(tmp_path / "state"), "--timeout", "30",
            "--wait-primary", "panic"]
    with SiaReceiver(backup_port) as backup:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: {"PA", "YS"} <= {e.code for e in backup.received()}, 15,
                       "panic and communications trouble at the backup",
                       diagnostics=lambda: "\n".join(map(str, backup.received())))
            with SiaReceiver(primary_port) as primary:
                out, err = proc.communicate(timeout=30)
                assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err[-4000:]}"
                primary_codes = [e.code for e in primary.received()]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        backup_codes = [e.code for e in backup.received()]
    assert backup_codes[:2] == ["PA", "YS"], backup_codes
    # The probe that found the primary back (NULL → RP), then the restore.
    assert "YK" in primary_codes, primary_codes
    whats = [a["what"] for a in acknowledgements(out)]
    assert whats.index("communications-trouble") < whats.index("communications-restore")
