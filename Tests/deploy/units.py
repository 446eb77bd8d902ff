"""Reading systemd unit files and computing the seccomp policy systemd
builds from them, with systemd's own group definitions
(`systemd-analyze syscall-filter`)."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

# What some sandbox settings add as a deny list (systemd.exec(5)).
IMPLIED_DENY = {
    "ProtectClock": ["@clock"],
    "ProtectKernelModules": ["@module"],
    "ProtectKernelLogs": ["syslog"],
    "PrivateDevices": ["@raw-io"],
    "ProtectHostname": ["sethostname", "setdomainname"],
}

TRUE = {"yes", "true", "1", "on"}


def read_unit(path: Path) -> dict[str, list[str]]:
    """`Section.Key` → every value in file order (no drop-ins, no continuations)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


@functools.lru_cache(maxsize=1)
def syscall_groups() -> dict[str, list[str]]:
    """Every @group and its members, as this systemd defines them."""
    text = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True, timeout=60).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.match(r"^@[\w-]+$", line):
            current = line
            groups[current] = []
        elif current and line.startswith("    ") and not line.strip().startswith("#"):
            groups[current].append(line.strip())
        elif not line.strip():
            current = None
    if "@system-service" not in groups or "@default" not in groups:
        raise RuntimeError("could not parse `systemd-analyze syscall-filter`")
    return groups


def expand(item: str) -> set[str]:
    groups = syscall_groups()
    if not item.startswith("@"):
        return {item}
    out: set[str] = set()
    for member in groups[item]:
        out |= expand(member)
    return out


def syscall_policy(unit: dict[str, list[str]]) -> set[str]:
    """The system calls the unit allows, by systemd's rules: the first
    SystemCallFilter= line decides allow- or deny-list mode (allow-list mode
    starts from @default), later lines add or remove in order; settings like
    ProtectClock= add their own deny lists."""
    values = unit.get("Service.SystemCallFilter", [])
    if not values or values[0].startswith("~"):
        raise ValueError("expected an allow-list SystemCallFilter=")
    allowed = expand("@default")
    for v in values:
        if v == "":
            raise ValueError("a reset (SystemCallFilter=) is not supported here")
        negative = v.startswith("~")
        names = set().union(*(expand(x) for x in v.lstrip("~").split()))
        allowed = allowed - names if negative else allowed | names
    for setting, deny in IMPLIED_DENY.items():
        if unit.get(f"Service.{setting}", ["no"])[-1].lower() in TRUE:
            allowed -= set().union(*(expand(x) for x in deny))
    return allowed


def address_families(unit: dict[str, list[str]]) -> list[str] | None:
    values = unit.get("Service.RestrictAddressFamilies")
    if not values:
        return None
    if any(v.startswith("~") for v in values):
        raise ValueError("only allow-list RestrictAddressFamilies= is supported here")
    return sorted({f for v in values for f in v.split()})


def flag(unit: dict[str, list[str]], key: str) -> bool:
    return unit.get(f"Service.{key}", ["no"])[-1].lower() in TRUE


def limit_nice(unit: dict[str, list[str]]) -> int | None:
    """LimitNICE= as the raw RLIMIT_NICE value: "-4" (a nice level) → 24."""
    values = unit.get("Service.LimitNICE")
    if not values:
        return None
    v = values[-1]
    return 20 - int(v) if v[0] in "+-" else int(v)
