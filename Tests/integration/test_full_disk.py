"""#14 item 2: an alarm on a full disk still reaches the receiver.

The gateway's state directory is a size-limited tmpfs mounted by the test
(root, as in CI). Something else fills it while the button is being pressed:
the outbox's reserve is given up first (those alarms are still committed),
then alerts are held in memory and delivered from there (`durable: false`
on the wire), trouble is raised; once space returns every held alert is
written with the id and sequence number it was sent with, nothing reaches
the receiver twice, and the reserve is made again.
"""
import contextlib
import errno
import os
import subprocess
import time

import pytest

import conftest as c


class Tmpfs:
    def __init__(self, path, size_kib: int):
        if os.geteuid() != 0:
            pytest.fail("this test mounts a size-limited tmpfs and needs root: run it as root (CI does)")
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(path)], check=True)
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> int:
        """Writes zeros until the filesystem refuses more; returns the bytes written."""
        total = 0
        with open(self.filler, "ab", buffering=0) as f:
            for size in (1 << 16, 4096, 1):
                chunk = b"\0" * size
                while True:
                    try:
                        n = f.write(chunk)
                    except OSError as e:
                        assert e.errno == errno.ENOSPC, e
                        break
                    total += n
        return total

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


def test_an_alarm_on_a_full_disk_reaches_the_receiver_and_is_stored_once_when_space_returns(tmp_path, procs):
    key = c.keygen(tmp_path / "gateway.key")
    rx = c.start_receiver(procs, tmp_path, [key.public_b64])
    setup = c.make_gateway(tmp_path, rx.base_url, key=key, heartbeat_interval_s=60)
    setup.config.write_text(setup.config.read_text() + "\n[outbox]\nreserve_mib = 1\n")
    fs = Tmpfs(setup.state_dir, 6 * 1024)
    try:
        gw = c.start_gateway(procs, setup)
        assert (setup.state_dir / "outbox.db.reserve").stat().st_size == 1 << 20, "the reserve file was not made"
        button = c.Button(setup.fifo)
        button.click()
        c.wait_until(lambda: len(c.receiver_rows(rx.database)) >= 2 or None, 10, "the first press and its restore")

        filled = fs.fill()
        clicks = 1
        held_seen = None
        started = time.monotonic()
        # Press until an alarm goes out from memory (the reserve and WAL
        # frames already on disk take the first ones), then a few more.
        while clicks < 200:
            button.click(hold_s=0.03, gap_s=0.03)
            clicks += 1
            if held_seen is None and clicks % 5 == 0:
                if any(r["body"].get("durable") is False for r in c.receiver_rows(rx.database)):
                    held_seen = clicks
            if held_seen is not None and clicks >= held_seen + 5:
                break
        press_s = time.monotonic() - started
        assert held_seen is not None, f"no alert was sent from memory in {clicks} clicks: the disk never refused a commit\n{gw.describe()}"

        # Everything pressed reaches the receiver while the disk is still full.
        def all_presses():
            rows = c.receiver_rows(rx.database)
            return rows if sum(1 for r in rows if r["kind"] == "panic") == clicks else None
        rows = c.wait_until(all_presses, 20, f"all {clicks} presses at the receiver with the disk full",
                            diagnostics=lambda: gw.describe())
        details = [r["body"].get("detail") or "" for r in rows if r["kind"] == "trouble"]
        assert any(d.startswith("disk full: the outbox's reserve was given up") for d in details), details
        assert any(d.startswith("outbox cannot write") for d in details), details
        held_at_receiver = [r for r in rows if r["body"].get("durable") is False]
        assert "cannot commit alerts to the outbox; holding them in memory" in gw.stderr()
        assert "sent from the gateway's memory" in c.receiver_tail(rx.database, last=2000), "the receiver's log does not say an alert came from memory"

        fs.free()

        def settled():
            rows = c.receiver_rows(rx.database)
            restores = [r["body"].get("detail") or "" for r in rows if r["kind"] == "restore" and r["body"].get("restores") == "trouble"]
            writes_again = any(d.startswith("outbox writes again") for d in restores)
            reserve_back = any(d.startswith("outbox reserve restored") for d in restores)
            return rows if writes_again and reserve_back else None
        rows = c.wait_until(settled, 30, "trouble cleared: the outbox writes again and the reserve is made again",
                            diagnostics=lambda: gw.describe())
        assert (setup.state_dir / "outbox.db.reserve").stat().st_size == 1 << 20

        def drained():
            return c.query(setup.outbox, "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")[0][0] == 0 or None
        c.wait_until(drained, 20, "the outbox to have nothing pending", diagnostics=lambda: gw.describe())
        rows = c.receiver_rows(rx.database)
        stored = dict(c.query(setup.outbox, "SELECT sequence, id FROM alerts"))
        states = dict(c.query(setup.outbox, "SELECT sequence, state FROM deliveries"))
        held_bodies = {r["sequence"]: bytes(c.query(setup.outbox, "SELECT body FROM alerts WHERE sequence = ?", (r["sequence"],))[0][0])
                       for r in held_at_receiver}
    finally:
        with contextlib.suppress(Exception):
            button.close()
        procs.stop_all()
        fs.unmount()

    at_receiver = {r["sequence"]: r["id"] for r in rows}
    ids = [r["id"] for r in rows]
    sequences = sorted(at_receiver)
    print(f"\nfull disk: filler {filled} bytes, {clicks} clicks in {press_s:.1f} s, first alert from memory by click {held_seen}; "
          f"{len(held_at_receiver)} alerts sent from memory; receiver holds {len(rows)} alerts, outbox {len(stored)}")
    assert len(ids) == len(set(ids)), "an alert was stored twice at the receiver"
    assert sequences == list(range(1, len(sequences) + 1)), f"a gap in the sequence numbers: {sequences}"
    # Every alert held in memory was written later with the id it was sent with.
    assert stored == at_receiver, {s: (stored.get(s), at_receiver.get(s)) for s in set(stored) ^ set(at_receiver)}
    assert set(states.values()) == {"delivered"}, states
    for seq, body in held_bodies.items():
        assert b'"durable":false' in body, f"held alert {seq} stored without its mark"
