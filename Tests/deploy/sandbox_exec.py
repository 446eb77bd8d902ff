#!/usr/bin/python3
"""Runs a command under the seccomp policy a systemd unit would give it,
as the unit's user: what systemd does between fork and exec for
SystemCallFilter= (+ SystemCallErrorNumber=EPERM), RestrictAddressFamilies=,
MemoryDenyWriteExecute=, NoNewPrivileges=, User=/Group=/SupplementaryGroups=,
UMask= and LimitNICE=. Not emulated: mount namespaces, ProtectSystem=, devices, the
argument filters of RestrictNamespaces=/RestrictRealtime=/LockPersonality=.

    /usr/bin/python3 sandbox_exec.py SPEC.json -- COMMAND ARGS...

Needs Debian's python3-seccomp (libseccomp), hence the system interpreter.
SPEC: {"allow": [names], "families": ["AF_UNIX", ...] | null,
       "mdwe": bool, "uid": n, "gid": n, "groups": [n], "umask": n,
       "limit_nice": raw RLIMIT_NICE | null}
"""
import errno
import json
import mmap
import os
import resource
import socket
import sys

import seccomp

PROT_WRITE, PROT_EXEC = mmap.PROT_WRITE, mmap.PROT_EXEC
SHM_EXEC = 0o100000
NOT_APPLIED = "sandbox_exec: not applied:"


def main():
    spec = json.load(open(sys.argv[1]))
    cmd = sys.argv[sys.argv.index("--") + 1:]

    if spec.get("limit_nice") is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NICE, (spec["limit_nice"], spec["limit_nice"]))
        except (ValueError, OSError) as e:  # raising a hard limit needs CAP_SYS_RESOURCE
            print(f"{NOT_APPLIED} LimitNICE: {e}", file=sys.stderr, flush=True)
    os.setgroups(spec["groups"])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    os.umask(spec["umask"])

    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))  # also sets no_new_privs
    special = {"socket"} | ({"mmap", "mprotect", "pkey_mprotect", "shmat"} if spec["mdwe"] else set())
    unknown = []
    for name in sorted(set(spec["allow"]) - special):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            unknown.append(name)  # not a call of this architecture (e.g. *_time64): systemd skips it too
    if "socket" in spec["allow"]:
        if spec["families"] is None:
            f.add_rule(seccomp.ALLOW, "socket")
        else:
            for fam in spec["families"]:
                f.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, int(getattr(socket, fam))))
    if spec["mdwe"]:
        both = PROT_WRITE | PROT_EXEC
        if "mmap" in spec["allow"]:
            for value in (0, PROT_WRITE, PROT_EXEC):  # anything but write and exec together
                f.add_rule(seccomp.ALLOW, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, both, value))
        for name in ("mprotect", "pkey_mprotect"):  # no exec added later
            if name in spec["allow"]:
                f.add_rule(seccomp.ALLOW, name, seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
        if "shmat" in spec["allow"]:
            f.add_rule(seccomp.ALLOW, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, 0))
    f.load()
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
