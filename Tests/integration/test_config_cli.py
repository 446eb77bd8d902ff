"""`panic-gateway check-config` and start-up refusals: every problem is
reported as FILE:LINE: KEY: MESSAGE with the documented exit codes."""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import conftest as c
from conftest import binary, gateway_toml, keygen, make_gateway, run, start_gateway

EXIT_CONFIG_INVALID = 2
EXIT_KEY_PROBLEM = 3
PANICCTL_EXIT_KEY_PROBLEM = 5   # panicctl's own code (Sources/panicctl/ControlClient.swift)


def valid_config(tmp_path: Path) -> str:
    return gateway_toml(state_dir=tmp_path / "state", key_file=tmp_path / "gateway.key",
                        fifo=tmp_path / "btn.fifo", uplink_url="http://127.0.0.1:9")


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line containing `needle`."""
    hits = [i + 1 for i, line in enumerate(text.split("\n")) if needle in line]
    assert len(hits) == 1, f"{needle!r} found on lines {hits}"
    return hits[0]


def check_config(path: Path):
    return run([binary("panic-gateway"), "check-config", str(path)], timeout=30)


def test_valid_config_is_accepted(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(valid_config(tmp_path))
    cp = check_config(cfg)
    assert cp.returncode == 0, cp.stderr
    assert f"{cfg}: OK" in cp.stdout
    assert "gw-test" in cp.stdout and "1 input(s)" in cp.stdout and "1 uplink(s)" in cp.stdout
    assert cp.stderr == ""


# Each case: (id, edit(text) -> broken text, needle marking the line the error
# must point at, expected key path, expected message fragment).
CASES = [
    ("unknown-key",
     lambda t: t.replace("zone = 501\n", "zone = 501\nzonee = 5\n"),
     "zonee = 5", "inputs[0].zonee", "unknown key"),
    ("bad-enum",
     lambda t: t.replace('kind = "panic"', 'kind = "fire"'),
     'kind = "fire"', "inputs[0].kind", '"fire" is not allowed; one of: "panic", "duress", "tamper", "sensor"'),
    ("bad-debounce-mode",
     lambda t: t.replace('mode = "immediate"', 'mode = "instant"'),
     'mode = "instant"', "inputs[0].debounce.mode", '"instant" is not allowed'),
    ("missing-required-zone",
     lambda t: t.replace("zone = 501\n", ""),
     "[[inputs]]", "inputs[0].zone", "required"),
    ("missing-required-gateway-id",
     lambda t: t.replace('gateway_id = "gw-test"\n', ""),
     None, "gateway_id", "required"),
    ("plain-http-non-loopback",
     lambda t: t.replace('url = "http://127.0.0.1:9"', 'url = "http://192.0.2.10:8080"'),
     'url = "http://192.0.2.10:8080"', "uplinks[0].url", "plain http is allowed only to a loopback address"),
    ("out-of-range",
     lambda t: t.replace("heartbeat_interval_s = 1", "heartbeat_interval_s = 0"),
     "heartbeat_interval_s = 0", "uplinks[0].heartbeat_interval_s", "must be an integer from 1 to 3600"),
]


@pytest.mark.parametrize("edit,needle,key,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_config_is_located(tmp_path, edit, needle, key, message):
    good = valid_config(tmp_path)
    bad = edit(good)
    assert bad != good, "the edit must change the file"
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(bad)
    cp = check_config(cfg)
    assert cp.returncode == EXIT_CONFIG_INVALID, f"exit {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
    assert "OK" not in cp.stdout
    if needle is not None:
        prefix = f"{cfg}:{line_of(bad, needle)}: {key}: "
    else:
        prefix = f"{cfg}: {key}: "
    lines = [l for l in cp.stderr.splitlines() if l.startswith(prefix)]
    assert lines, f"no line starting with {prefix!r} in stderr:\n{cp.stderr}"
    assert message in lines[0], f"{message!r} not in {lines[0]!r}"


def test_every_problem_is_reported_in_one_pass(tmp_path):
    good = valid_config(tmp_path)
    bad = (good.replace("zone = 501\n", "zone = 501\nzonee = 5\n")
               .replace('kind = "panic"', 'kind = "fire"')
               .replace('url = "http://127.0.0.1:9"', 'url = "http://192.0.2.10:8080"'))
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(bad)
    cp = check_config(cfg)
    assert cp.returncode == EXIT_CONFIG_INVALID
    for key in ("inputs[0].zonee", "inputs[0].kind", "uplinks[0].url"):
        assert re.search(rf"^{re.escape(str(cfg))}:\d+: {re.escape(key)}: ", cp.stderr, re.M), f"{key} not reported:\n{cp.stderr}"


def test_toml_syntax_error_names_the_line(tmp_path):
    good = valid_config(tmp_path)
    bad = good.replace("zone = 501", "zone = = 501")
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(bad)
    cp = check_config(cfg)
    assert cp.returncode == EXIT_CONFIG_INVALID, cp.stderr
    n = line_of(bad, "zone = = 501")
    assert re.search(rf"^{re.escape(str(cfg))}:{n}: TOML syntax", cp.stderr, re.M), cp.stderr


def test_missing_config_file(tmp_path):
    cfg = tmp_path / "nope.toml"
    cp = check_config(cfg)
    assert cp.returncode == EXIT_CONFIG_INVALID
    assert f"{cfg}: configuration file does not exist" in cp.stderr


def test_run_refuses_config_errors_with_exit_2(tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(valid_config(tmp_path).replace('kind = "panic"', 'kind = "fire"'))
    cp = run([binary("panic-gateway"), "run", "--config", str(cfg)], timeout=30)
    assert cp.returncode == EXIT_CONFIG_INVALID, cp.stderr
    assert "inputs[0].kind" in cp.stderr
    assert not (tmp_path / "state").exists(), "nothing may be created from a refused configuration"


def test_run_refuses_key_readable_by_others(tmp_path):
    key = keygen(tmp_path / "gateway.key")
    assert (os.stat(key.path).st_mode & 0o777) == 0o600, "keygen must write mode 0600"
    os.chmod(key.path, 0o644)
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(valid_config(tmp_path))
    cp = run([binary("panic-gateway"), "run", "--config", str(cfg)], timeout=30)
    assert cp.returncode == EXIT_KEY_PROBLEM, f"exit {cp.returncode}\nstderr: {cp.stderr}"
    assert f"chmod 600 {key.path}" in cp.stderr, cp.stderr
    assert "644" in cp.stderr


def test_run_creates_missing_key_with_mode_0600(tmp_path, procs):
    """First start of a box: no key file yet, the gateway makes one."""
    setup = make_gateway(tmp_path, "http://127.0.0.1:9")
    assert not setup.key_file.exists() and not setup.fifo.exists()
    gw = start_gateway(procs, setup)
    assert (os.stat(setup.key_file).st_mode & 0o777) == 0o600
    assert isinstance(serialization.load_pem_private_key(setup.key_file.read_bytes(), password=None), Ed25519PrivateKey)
    assert "generated a new gateway key" in gw.stderr()
    assert stat.S_ISFIFO(os.stat(setup.fifo).st_mode)
    assert gw.terminate() == 0, gw.describe()


def test_keygen_never_overwrites(tmp_path):
    key = keygen(tmp_path / "gateway.key")
    before = key.path.read_bytes()
    cp = run([binary("panic-gateway"), "keygen", "--out", str(key.path)], timeout=30)
    assert cp.returncode == EXIT_KEY_PROBLEM
    assert "already exists" in cp.stderr
    assert key.path.read_bytes() == before


def test_panicctl_keys_generate_writes_the_configured_key_file(tmp_path):
    """docs/INSTALL.md step 3 runs `panicctl keys generate` with no --out; it
    used to stop at "Missing expected argument '--out <out>'" (found by the
    appliance-install HIL scenario). The key goes to the configuration's
    key_file, mode 0600, and its public half is printed; a second run refuses
    to overwrite it."""
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(valid_config(tmp_path))
    key_path = tmp_path / "gateway.key"
    cp = run([binary("panicctl"), "keys", "generate", "--config", str(cfg)], timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert f"key file:    {key_path} (mode 0600)" in cp.stdout
    public = re.search(r"^public key:  (\S+)$", cp.stdout, re.M).group(1)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.b64encode(raw).decode() == public
    before = key_path.read_bytes()
    again = run([binary("panicctl"), "keys", "generate", "--config", str(cfg)], timeout=30)
    assert again.returncode == PANICCTL_EXIT_KEY_PROBLEM and "already exists" in again.stderr
    assert key_path.read_bytes() == before


def test_panicctl_keys_generate_without_a_readable_config_says_to_pass_out(tmp_path):
    cp = run([binary("panicctl"), "keys", "generate", "--config", str(tmp_path / "missing.toml")], timeout=30)
    assert cp.returncode == EXIT_CONFIG_INVALID
    assert "--out PATH" in cp.stderr and "missing.toml" in cp.stderr
    assert not list(tmp_path.iterdir())


def test_a_dc09_only_gateway_counts_its_destination(tmp_path, procs):
    """Issue 18: with only a DC-09 destination, check-config said `0 uplink(s)`
    and the daemon logged `uplinks=0`; every destination counts."""
    setup = c.make_gateway(tmp_path, "http://127.0.0.1:9")
    text = setup.config.read_text()
    head = text[:text.index("[[uplinks]]")]
    setup.config.write_text(head + f'[[uplinks]]\ntype = "dc09"\nname = "arc"\nhost = "127.0.0.1"\nport = {c.free_port()}\n'
                            'account = "1234"\n')
    cp = check_config(setup.config)
    assert cp.returncode == 0, cp.stderr
    assert "1 uplink(s)" in cp.stdout, cp.stdout
    gw = c.start_gateway(procs, setup)
    line = next(l for l in gw.stderr().splitlines() if l.startswith("<5>running"))
    assert "uplinks=1" in line, line
