"""Host-side helpers of the HIL rig: console markers, a QMP client, deadlines.

Used by scenario host drivers (hil/scenarios/*/host) and checks (*/check).
Standard library only. Every wait is bounded.
"""
import json
import os
import re
import socket
import sys
import time

MARK = "@@HIL"


def parse_markers(path):
    """[(event, {key: value}, raw_line)] for every '@@HIL event k=v ...' line."""
    out = []
    try:
        text = open(path, "rb").read().decode("utf-8", "replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        line = line.strip("\r")
        i = line.find(MARK + " ")
        if i < 0:
            continue
        parts = line[i + len(MARK) + 1:].split()
        if not parts:
            continue
        kv = {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                kv[k] = v
        out.append((parts[0], kv, line[i:]))
    return out


def guest_failures(path):
    """Reasons given by '@@HIL-FAIL reason' lines, and the guest's exit code."""
    fails, rc = [], None
    try:
        text = open(path, "rb").read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ["no console log"], None
    for line in text.splitlines():
        m = re.search(r"@@HIL-FAIL (.*)", line)
        if m:
            fails.append(m.group(1).strip())
        m = re.search(r"@@HIL-EXIT rc=(\d+)", line)
        if m:
            rc = int(m.group(1))
    return fails, rc


class Console:
    """Follows the guest console log (a QEMU file chardev) for markers."""

    def __init__(self, path):
        self.path, self.pos, self.buf = path, 0, ""

    def _read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
                self.pos += len(data)
                self.buf += data.decode("utf-8", "replace")
        except FileNotFoundError:
            pass

    def wait_for(self, pattern, timeout):
        """Waits for a console line matching regex pattern; returns
        (match, host monotonic time it was seen) or raises TimeoutError."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            self._read()
            while "\n" in self.buf:
                line, self.buf = self.buf.split("\n", 1)
                if "@@HIL-EXIT" in line or "@@HIL-FAIL" in line:
                    if not rx.search(line):
                        raise RuntimeError("guest ended first: " + line.strip())
                m = rx.search(line)
                if m:
                    return m, time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError("no console line matching %r within %ss" % (pattern, timeout))
            time.sleep(0.002)


class QMP:
    """Minimal QMP client over a unix socket."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise TimeoutError("QMP socket %s not ready in %ss" % (path, timeout))
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        self.events = []
        greeting = self._recv()
        if "QMP" not in greeting:
            raise RuntimeError("not a QMP greeting: %r" % greeting)
        self.execute("qmp_capabilities")

    def _recv(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QMP connection closed")
        return json.loads(line)

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._recv()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (cmd, r["error"].get("desc", r["error"])))
            return r.get("return")

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("event") == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no QMP event %s within %ss" % (name, timeout))
            self.sock.settimeout(left)
            try:
                r = self._recv()
            except socket.timeout:
                continue
            if "event" in r:
                self.events.append(r)


def emit(path, **kv):
    """Appends 'key=value ...' to a results file (read by the scenario's check)."""
    with open(path, "a") as f:
        f.write(" ".join("%s=%s" % (k, v) for k, v in kv.items()) + "\n")


def read_results(path):
    kv = {}
    try:
        for line in open(path):
            for p in line.split():
                if "=" in p:
                    k, v = p.split("=", 1)
                    kv[k] = v
    except FileNotFoundError:
        pass
    return kv


def markers_of(path, event):
    """[{key: value}] of every '@@HIL <event> ...' marker, in console order."""
    return [kv for ev, kv, _ in parse_markers(path) if ev == event]


def require_clean_guest(path):
    """Exits with the guest's own failure reasons, if any (for checks)."""
    fails, rc = guest_failures(path)
    if fails:
        sys.exit("guest: " + "; ".join(fails))
    if rc != 0:
        sys.exit("guest scenario exited %s" % rc)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def rfc3339_ns(s):
    """UTC ns of an RFC 3339 time like 2026-11-29T09:42:38.007598Z (fraction optional)."""
    import calendar
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$", s)
    if not m:
        raise ValueError("not an RFC 3339 UTC time: %r" % s)
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    frac = (m.group(7) or "").ljust(9, "0")[:9]
    return calendar.timegm((y, mo, d, h, mi, se)) * 1_000_000_000 + int(frac)


def alert_label(a):
    """'panic', 'restore(panic)', … of an rx-alert marker."""
    return a["kind"] + ("(%s)" % a["restores"] if a.get("restores", "-") != "-" else "")
