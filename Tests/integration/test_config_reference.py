"""docs/CONFIGURATION.md against the loader: every example configuration is
accepted, and the keys the reference documents are exactly the keys the
loader reads (`panic-gateway check-config --print-keys`) over the examples.

The loader looks every key of a table up, present or not, so a set of files
that reaches every branch (each source type, each serial protocol, https and
dc09 uplinks, [metrics], [outbox], debounce, codes) makes it print every key
it accepts. A key added to the loader without a row in the reference, or a
row for a key the loader no longer reads, fails (b)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import conftest as c

REPO = c.REPO
REFERENCE = REPO / "docs" / "CONFIGURATION.md"
EXAMPLES = sorted((REPO / "deploy" / "examples").glob("*.toml")) + [REPO / "deploy" / "gateway.toml.example"]
# Keys only reachable with helper files beside it (none so far: the loader
# reads ca_file, client_cert, client_key whether or not they are given).
ALL_KEYS = REPO / "Tests" / "integration" / "config_reference" / "all-keys.toml"
KEY_FILES = EXAMPLES + ([ALL_KEYS] if ALL_KEYS.exists() else [])

CODES = "uplinks[].codes."
CODES_PLACEHOLDER = CODES + "<input>"


def check_config(path: Path, *extra: str):
    return c.run([c.binary("panic-gateway"), "check-config", *extra, str(path)], timeout=30)


def printed_keys(path: Path) -> set[str]:
    cp = check_config(path, "--print-keys")
    assert cp.returncode == 0, f"{path}: check-config --print-keys refused it (exit {cp.returncode}):\n{cp.stderr}"
    lines = cp.stdout.splitlines()
    assert lines and lines[0].startswith(f"{path}: OK"), cp.stdout
    return {line.strip() for line in lines[1:] if line.strip()}


def loader_keys() -> set[str]:
    """The union of --print-keys over the files, tables dropped, code
    overrides (named after inputs) folded into one placeholder key."""
    keys: set[str] = set()
    for f in KEY_FILES:
        keys |= printed_keys(f)
    tables = {k for k in keys if any(o.startswith(k + ".") or o.startswith(k + "[].") for o in keys)}
    out = set()
    for k in keys - tables:
        out.add(CODES_PLACEHOLDER if k.startswith(CODES) else k)
    return out


TABLE_ROW = re.compile(r"^\|\s*(`[^|]*?)\s*\|")


def reference_keys() -> set[str]:
    """Every backticked path in the first column of the reference's tables."""
    keys: set[str] = set()
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        m = TABLE_ROW.match(line)
        if m:
            keys.update(re.findall(r"`([^`]+)`", m.group(1)))
    return keys


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_example_is_accepted(path):
    cp = check_config(path)
    assert cp.returncode == 0, f"{path.relative_to(REPO)} refused (exit {cp.returncode}):\n{cp.stderr}"
    assert f"{path}: OK" in cp.stdout, cp.stdout
    assert cp.stderr == "", cp.stderr


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    for name in ("raspberry-pi-gpio.toml", "x86-usb-gpio.toml", "usb-serial-line.toml",
                 "modbus-rtu.toml", "dc09-with-backup.toml", "gateway.toml.example"):
        assert name in names, f"deploy/examples/{name} is missing"


def test_reference_documents_exactly_the_keys_the_loader_reads():
    loader = loader_keys()
    documented = reference_keys()
    assert loader, "check-config --print-keys printed no keys"
    missing = sorted(loader - documented)
    unknown = sorted(documented - loader)
    problems = []
    if missing:
        problems.append("keys the loader reads that docs/CONFIGURATION.md does not document:\n  "
                        + "\n  ".join(missing))
    if unknown:
        problems.append("keys docs/CONFIGURATION.md documents that the loader never read "
                        "(misspelt, removed, or no example reaches them):\n  " + "\n  ".join(unknown))
    assert not problems, "\n".join(problems)


def test_readme_links_the_reference():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/CONFIGURATION.md" in readme, "README.md's configuration section should link docs/CONFIGURATION.md"
