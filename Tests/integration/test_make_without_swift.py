"""`make demo` and `make test` stop at once, with what to install, when Swift
6 is not on the PATH (instead of a shell error half-way through)."""
import subprocess
import time

import conftest as c


def make(target: str, swift: str) -> tuple[subprocess.CompletedProcess, float]:
    t = time.monotonic()
    cp = subprocess.run(["make", "--no-print-directory", "-C", str(c.REPO), target, f"SWIFT={swift}"],
                        capture_output=True, text=True, timeout=60)
    return cp, time.monotonic() - t


def test_missing_swift_stops_demo_and_test_at_once_naming_the_version():
    for target in ("demo", "test"):
        cp, took = make(target, "/nonexistent/swift")
        assert cp.returncode != 0, f"make {target} went on without Swift:\n{cp.stdout}\n{cp.stderr}"
        assert "Swift 6.0 or later is needed" in cp.stderr and "6.3.1" in cp.stderr, cp.stderr
        assert "apt-get" not in cp.stdout + cp.stderr, "it installed packages before checking for Swift"
        assert took < 10, f"make {target} took {took:.1f} s to say Swift is missing"


def test_a_swift_that_is_not_version_6_is_refused():
    cp, _ = make("demo", "/bin/true")
    assert cp.returncode != 0 and "is not Swift 6.0 or later" in cp.stderr, cp.stderr
