"""`panic-receiver serve` promises one `listening HOST:PORT` line on stdout
once bound, "for scripts and tests that asked for port 0". A script reads
that line through a pipe while the receiver keeps running, so the line must
reach the pipe then, not when the process exits. The operator's views
(`tail`, `status`) refuse a database that is not there."""

from __future__ import annotations

import select
import subprocess
import time

import pytest

from conftest import binary, keygen, receiver_toml, run


def test_listening_line_reaches_a_pipe_while_serving(tmp_path):
    key = keygen(tmp_path / "gw.key")
    cfg = tmp_path / "receiver.toml"
    cfg.write_text(receiver_toml(port=0, database=tmp_path / "receiver.db", public_keys=[key.public_b64]))
    p = subprocess.Popen([binary("panic-receiver"), "serve", "--config", str(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline and p.poll() is None:
            ready, _, _ = select.select([p.stdout], [], [], 0.2)
            if ready:
                chunk = p.stdout.read1(4096)
                if not chunk:
                    break
                line += chunk
        still_running = p.poll() is None
        stderr_so_far = b""
        if still_running:
            p.terminate()
        try:
            _, stderr_so_far = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, stderr_so_far = p.communicate(timeout=10)
        assert still_running, f"receiver exited early ({p.returncode}): {stderr_so_far.decode(errors='replace')}"
        assert line.startswith(b"listening 127.0.0.1:"), (
            f"no `listening 127.0.0.1:PORT` line on the stdout pipe within 10 s while the receiver was serving "
            f"(got {line!r}); its stderr already said it was listening:\n{stderr_so_far.decode(errors='replace')[-1000:]}")
        port = int(line.split(b":")[1])
        assert 0 < port < 65536
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def test_tail_follow_output_reaches_a_pipe(tmp_path, procs, receiver_engine):
    """`panic-receiver tail` (following) is the operator's live view; piped into
    grep or a log shipper its lines must arrive as events happen."""
    from conftest import database_args, make_gateway, receiver_tail, start_gateway, start_receiver, wait_until

    key = keygen(tmp_path / "gateway.key")
    rx = start_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine)
    setup = make_gateway(tmp_path, rx.base_url, key=key)
    start_gateway(procs, setup)
    wait_until(lambda: "ONLINE" in receiver_tail(rx.database), 15, "an ONLINE event in the receiver's log")

    p = subprocess.Popen([binary("panic-receiver"), "tail", *database_args(rx.database)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        out = b""
        deadline = time.monotonic() + 5
        while b"ONLINE" not in out and time.monotonic() < deadline and p.poll() is None:
            ready, _, _ = select.select([p.stdout], [], [], 0.2)
            if ready:
                chunk = p.stdout.read1(4096)
                if not chunk:
                    break
                out += chunk
        assert p.poll() is None, f"tail exited ({p.returncode}) instead of following"
        assert b"ONLINE" in out, f"`tail` (following) wrote nothing to its stdout pipe within 5 s (got {out!r})"
    finally:
        p.kill()
        p.wait(timeout=10)


@pytest.mark.parametrize("view", [["tail", "--no-follow"], ["tail"], ["status"]])
def test_a_view_of_a_missing_database_says_so_and_creates_nothing(tmp_path, view):
    """A mistyped --database (or `database` in --config) must not show an
    empty, quiet log: `tail` and `status` used to create an empty database
    there and print nothing, which looks like a night without alarms."""
    missing = tmp_path / "typo" / "receiver.db"
    missing.parent.mkdir()
    cp = run([binary("panic-receiver"), *view, "--database", str(missing)], timeout=30)
    assert cp.returncode == 1, (cp.returncode, cp.stdout, cp.stderr)
    assert f"no database at {missing}" in cp.stderr and "--database" in cp.stderr, cp.stderr
    assert not missing.exists(), "a view must not create the database it was asked to show"

    cfg = tmp_path / "receiver.toml"
    cfg.write_text(f'listen = "127.0.0.1:0"\ndatabase = "{missing}"\n[[gateways]]\nid = "gw-x"\n'
                   'public_keys = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]\n')
    cp = run([binary("panic-receiver"), *view, "--config", str(cfg)], timeout=30)
    assert cp.returncode == 1 and f"no database at {missing}" in cp.stderr and str(cfg) in cp.stderr, (cp.returncode, cp.stderr)
    assert not missing.exists()
