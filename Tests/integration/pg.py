"""A private PostgreSQL cluster for the tests: Debian's postgresql-15
server, a cluster made with initdb in a temporary directory and started
with pg_ctl on a loopback port, as an unprivileged user when the tests run
as root (PostgreSQL refuses to run as root). Nothing is skipped when the
server is missing: the test fails and says what to install."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("PANIC_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "panic"


def _tool(name: str) -> str:
    path = PG_BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: install Debian's PostgreSQL server (`apt-get install postgresql-15`, "
                    f"which `make deps` does) or point PANIC_PG_BIN at its bin directory", pytrace=False)
    return str(path)


class PostgresCluster:
    """One cluster; databases are made per test with `create_database`."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="panic-pg-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.socket_dir = self.base / "run"
        self.socket_dir.mkdir()
        self.log = self.base / "server.log"
        self.port = _free_port()
        self.os_user = None
        if os.geteuid() == 0:
            self.os_user = "nobody"
            pw = pwd.getpwnam("nobody")
            for p in (self.base, self.socket_dir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.counter = 0

    def _as_user(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if self.os_user:
            args = ["runuser", "-u", self.os_user, "--"] + args
        return subprocess.run(args, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)

    def init(self) -> None:
        cp = self._as_user([_tool("initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync"])
        if cp.returncode != 0:
            pytest.fail(f"initdb failed ({cp.returncode}): {cp.stderr}\n{cp.stdout}", pytrace=False)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.socket_dir}'\n"
                    "fsync = on\nsynchronous_commit = on\nmax_connections = 300\nshared_buffers = 128MB\n")

    def start(self) -> None:
        cp = self._as_user([_tool("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"])
        if cp.returncode != 0:
            pytest.fail(f"pg_ctl start failed ({cp.returncode}): {cp.stderr}\n{cp.stdout}\n{self.server_log()}", pytrace=False)

    def stop(self, mode: str = "fast") -> None:
        self._as_user([_tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def restart(self) -> None:
        self.stop("immediate")
        self.start()

    def server_log(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""

    def psql(self, sql: str, database: str = "postgres", check: bool = True) -> str:
        cp = subprocess.run([_tool("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", database,
                             "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                            capture_output=True, text=True, timeout=60)
        if check and cp.returncode != 0:
            pytest.fail(f"psql failed ({cp.returncode}) on {sql!r}: {cp.stderr}", pytrace=False)
        return cp.stdout.strip()

    def create_database(self) -> str:
        self.counter += 1
        name = f"panic_{os.getpid()}_{self.counter}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def rows(self, database: str, sql: str) -> list[list[str]]:
        out = self.psql(sql, database)
        return [line.split("|") for line in out.splitlines() if line]

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_toml(cluster: PostgresCluster, database: str, max_connections: int = 10) -> str:
    return (f'[postgresql]\nhost = "127.0.0.1"\nport = {cluster.port}\nuser = "{PG_USER}"\n'
            f'database = "{database}"\nmax_connections = {max_connections}\n')
