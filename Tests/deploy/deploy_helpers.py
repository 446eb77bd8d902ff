"""Helpers and fixtures for the deployment tests: the .deb, a clean Debian 12 root to
install it into, and bounded helpers.

Roots are made with debootstrap (minbase, bookworm) once and cached as
tarballs under .build/deb-root-cache/ (the base system, and the base plus
the package's dependencies, keyed by their list), so reruns take seconds.
Every test root is a fresh extraction that is unmounted and deleted at
teardown. Tools the tests need are installed through scripts/install-deps.sh
(Debian packages, only if missing); anything that cannot be had fails the
test with the reason: nothing is skipped.

Environment:
  PANIC_DEB_BIN_DIR  binaries to package (default: .build/debug)
  PANIC_DEB          use this .deb instead of building one
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".build" / "deb-root-cache"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# Debian packages the deployment tests drive.
TOOLS = ["debootstrap", "dpkg-dev", "patchelf", "binutils", "strace", "python3-seccomp"]
# Added to the root beside the package's own dependencies: udev (Recommends)
# so the rules file is parsed by udevadm, man-db so `systemd-analyze verify`
# can resolve the units' man: documentation.
ROOT_EXTRAS = ["udev", "man-db"]
TIMINGS = CACHE / "timings.json"


def run(args, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Runs a command to completion (bounded), capturing text output; fails
    the test with its output if it times out or (with check) exits non-zero."""
    try:
        cp = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {timeout} s: {' '.join(map(str, args))}\nstdout: {e.stdout}\nstderr: {e.stderr}",
                    pytrace=False)
    if check and cp.returncode != 0:
        pytest.fail(f"exit {cp.returncode}: {' '.join(map(str, args))}\nstdout:\n{cp.stdout[-4000:]}\nstderr:\n{cp.stderr[-4000:]}",
                    pytrace=False)
    return cp


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05, diagnostics=None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for: {what}" + ("\n" + diagnostics() if diagnostics else ""),
                        pytrace=False)
        time.sleep(interval)


def record_timing(name: str, seconds: float) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    data[name] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"[timing] {name}: {seconds:.1f} s")


@pytest.fixture(scope="session")
def tools():
    """The Debian packages the tests drive, installed if missing."""
    if os.geteuid() != 0:
        pytest.fail("the deployment tests need root (debootstrap, chroot, mounts, ownership checks)", pytrace=False)
    run(["bash", REPO / "scripts" / "install-deps.sh", *TOOLS], timeout=900)
    for t in ["debootstrap", "dpkg-deb", "dpkg-shlibdeps", "patchelf", "strace", "systemd-analyze", "chroot", "mount"]:
        if not shutil.which(t):
            pytest.fail(f"{t} is missing after installing {TOOLS}", pytrace=False)


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    d = Path(os.environ.get("PANIC_DEB_BIN_DIR", REPO / ".build" / "debug"))
    for name in ("panic-gateway", "panicctl", "panic-receiver"):
        if not os.access(d / name, os.X_OK):
            pytest.fail(f"{d / name} is missing: run `swift build` (or set PANIC_DEB_BIN_DIR)", pytrace=False)
    return d


@pytest.fixture(scope="session")
def deb(tools, bin_dir, tmp_path_factory) -> Path:
    """The package, built from `bin_dir` (gzip: fast to build and unpack)."""
    given = os.environ.get("PANIC_DEB")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("deb")
    start = time.monotonic()
    cp = run(["bash", REPO / "scripts" / "build-deb.sh", "--bin-dir", bin_dir, "--out", out, "--compress", "gzip"],
             timeout=900)
    record_timing("build-deb", time.monotonic() - start)
    path = Path(cp.stdout.strip().splitlines()[-1])
    assert path.is_file(), cp.stdout + cp.stderr
    return path


def control_field(deb: Path, name: str) -> str:
    return run(["dpkg-deb", "-f", deb, name]).stdout.strip()


# ---------------------------------------------------------------------------
# Debian roots
# ---------------------------------------------------------------------------

def mounted_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(prefix)]


@contextlib.contextmanager
def chroot_mounts(root: Path):
    """/proc, /dev (bind) and /sys inside the root, always unmounted after."""
    made = []
    try:
        for target, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"]), ("sys", ["--bind", "-o", "ro", "/sys"])):
            t = root / target
            t.mkdir(exist_ok=True)
            run(["mount", *args, t], timeout=30)
            made.append(t)
        yield
    finally:
        for t in reversed(made):
            if subprocess.run(["umount", t], capture_output=True, timeout=30).returncode != 0:
                subprocess.run(["umount", "-l", t], capture_output=True, timeout=30)


def remove_root(root: Path) -> None:
    """Deletes a root, refusing while anything is still mounted inside it."""
    left = mounted_under(root)
    if left:
        pytest.fail(f"not deleting {root}: still mounted inside: {left}", pytrace=False)
    shutil.rmtree(root, ignore_errors=True)


def chroot(root: Path, *args, timeout: float = 120, check: bool = True, env: dict | None = None, **kw):
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    e.update(env or {})
    return run(["chroot", root, *args], timeout=timeout, check=check, env=e, **kw)


def extract(tarball: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    run(["tar", "-C", dest, "--numeric-owner", "-xpf", tarball], timeout=600)


def pack(root: Path, tarball: Path) -> None:
    tmp = tarball.with_suffix(".tmp")
    run(["tar", "-C", root, "--numeric-owner", "-cpf", tmp, "."], timeout=600)
    tmp.rename(tarball)


def base_root_tarball() -> Path:
    """debootstrap --variant=minbase bookworm, once; cached as a tarball."""
    tarball = CACHE / f"{SUITE}-minbase-{run(['dpkg', '--print-architecture']).stdout.strip()}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / "debootstrap.work"
    if work.exists():
        remove_root(work)
    start = time.monotonic()
    try:
        run(["debootstrap", "--variant=minbase", SUITE, work, MIRROR], timeout=1200)
        record_timing("debootstrap-cold", time.monotonic() - start)
        pack(work, tarball)
    finally:
        remove_root(work)
    return tarball


def first_alternatives(depends: str) -> list[str]:
    """`a (>= 1), b | c` → ["a", "b"]: what apt-get installs for the root."""
    names = []
    for group in depends.split(","):
        first = group.split("|")[0].strip()
        names.append(re.sub(r"\s*\(.*\)", "", first).strip())
    return [n for n in names if n]


def deps_root_tarball(deb: Path) -> Path:
    """The base root plus the package's dependencies (and ROOT_EXTRAS),
    installed with apt inside the root; cached per dependency list."""
    wanted = sorted(set(first_alternatives(control_field(deb, "Depends")) + ROOT_EXTRAS))
    key = hashlib.sha256(" ".join(wanted).encode()).hexdigest()[:12]
    tarball = CACHE / f"{SUITE}-deps-{key}.tar"
    if tarball.exists():
        return tarball
    base = base_root_tarball()
    work = CACHE / "deps.work"
    if work.exists():
        remove_root(work)
    start = time.monotonic()
    extract(base, work)
    try:
        shutil.copy("/etc/resolv.conf", work / "etc" / "resolv.conf")
        with chroot_mounts(work):
            chroot(work, "apt-get", "update", "-q", timeout=600)
            chroot(work, "apt-get", "install", "-y", "-q", "--no-install-recommends", *wanted, timeout=1200)
            chroot(work, "apt-get", "clean")
        (work / "etc" / "panic-deps-layer").write_text(" ".join(wanted) + "\n")
        pack(work, tarball)
        record_timing("deps-layer-cold", time.monotonic() - start)
    finally:
        remove_root(work)
    return tarball


def install_into_fresh_root(deb: Path, parent: Path) -> tuple[Path, str]:
    """Extracts the cached root under `parent` and installs the package with
    `dpkg -i` inside it (its postinst runs there: sysusers, tmpfiles,
    deb-systemd-helper). Returns the root and dpkg's output."""
    tarball = deps_root_tarball(deb)
    root = parent / "root"
    start = time.monotonic()
    extract(tarball, root)
    record_timing("root-from-cache", time.monotonic() - start)
    try:
        shutil.copy(deb, root / "tmp" / deb.name)
        with chroot_mounts(root):
            cp = chroot(root, "dpkg", "-i", f"/tmp/{deb.name}", timeout=300)
    except BaseException:
        remove_root(root)
        raise
    return root, cp.stdout + cp.stderr


@pytest.fixture(scope="session")
def installed_root(deb, tmp_path_factory):
    """A fresh Debian 12 root with the package installed; deleted after the session."""
    root, output = install_into_fresh_root(deb, tmp_path_factory.mktemp("debroot"))
    try:
        yield root, output
    finally:
        remove_root(root)
