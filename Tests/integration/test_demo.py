"""`panic-gateway demo --json`: the self-contained loopback demonstration."""

from __future__ import annotations

import json

from conftest import binary, run


def test_demo_delivers_everything_in_order(tmp_path):
    cp = run([binary("panic-gateway"), "demo", "--json"], timeout=120, cwd=tmp_path)
    lines = [l for l in cp.stdout.splitlines() if l.strip()]
    assert lines, f"demo printed nothing (exit {cp.returncode})\nstderr: {cp.stderr}"
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise AssertionError(f"last stdout line is not JSON: {lines[-1]!r}\nstderr: {cp.stderr}") from e
    summary = f"{result}\nstdout tail: {lines[-5:]}\nstderr: {cp.stderr[-3000:]}"
    assert cp.returncode == 0, summary
    assert result["lost"] == 0, summary
    assert result["verified"] == result["accepted"], summary
    assert result["pressed"] >= 5, summary
    assert result["accepted"] >= 2 * result["pressed"], summary
    assert result["delivered_after_outage"] >= 1, summary
    assert result["in_order"] is True, summary
    assert result["outage_s"] > 0, summary
