"""docs/ARCHITECTURE.md's module table is Package.swift's dependency graph:
a module added, removed or re-wired without the page following fails here."""
import json
import re
import subprocess

import conftest as c


def test_architecture_table_matches_package_swift():
    cp = subprocess.run(["swift", "package", "dump-package"], cwd=c.REPO, capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, f"swift package dump-package failed:\n{cp.stderr}"
    pkg = json.loads(cp.stdout)
    names = {t["name"] for t in pkg["targets"]}
    actual = {}
    for t in pkg["targets"]:
        if t["type"] == "test":
            continue
        deps = set()
        for d in t["dependencies"]:
            (kind, value), = d.items()
            if value[0] in names:
                deps.add(value[0])
        actual[t["name"]] = deps
    documented = {}
    text = (c.REPO / "docs" / "ARCHITECTURE.md").read_text()
    for row in re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|$", text, re.M):
        mods = re.findall(r"`([^`]+)`", row[0])
        deps = set() if row[1].strip() == "—" else {x.strip() for x in row[1].split(",")}
        for m in mods:
            documented[m] = deps
    assert set(documented) == set(actual), (
        f"modules missing from the page: {sorted(set(actual) - set(documented))}; "
        f"on the page but not in Package.swift: {sorted(set(documented) - set(actual))}")
    wrong = {m: (sorted(documented[m]), sorted(actual[m])) for m in actual if documented[m] != actual[m]}
    assert not wrong, f"dependencies differ (page, Package.swift): {wrong}"
