"""pysiaalarm (PyPI; the receiver library behind Home Assistant's SIA
integration) run as an alarm receiver on 127.0.0.1, for the DC-09 tests.

TCP uses pysiaalarm's asyncio server (what Home Assistant runs), on a loop
of its own thread. UDP uses its threaded server: the asyncio UDP server of
pysiaalarm 3.2.2 fails an isinstance assertion on Python 3.11 and never
answers. `events` holds every event pysiaalarm acknowledged (it calls back
only for those), with the fields the tests compare.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysiaalarm import CommunicationsProtocol, SIAAccount
from pysiaalarm import SIAClient as ThreadedSIAClient
from pysiaalarm.aio import SIAClient

# pysiaalarm logs every refused line at WARNING; keep it for failure output.
logging.getLogger("pysiaalarm").setLevel(logging.DEBUG)

ASCII_KEY = "0123456789ABCDEF"


@dataclass
class Event:
    code: str | None
    account: str | None
    sequence: str | None
    ri: str | None
    message: str | None
    partition: str | None
    message_type: str
    encrypted: bool
    receiver: str
    line: str
    x_data: str | None
    timestamp: Any

    @property
    def zone(self) -> str | None:
        """SIA-DCS: the digits after the code; ADM-CID: the zone/user field."""
        return self.ri if self.message_type == "ADM-CID" else self.message


class SiaReceiver:
    """One pysiaalarm receiver (TCP or UDP) on 127.0.0.1:`port`."""

    def __init__(self, port: int, account: str = "1234", key: str | None = None, udp: bool = False):
        self.port = port
        self.account = account
        self.key = key
        self.udp = udp
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._client: SIAClient | None = None
        self._threaded: ThreadedSIAClient | None = None

    async def _on_event(self, event) -> None:
        self._record(event)

    def _record(self, event) -> None:
        mt = event.message_type.value if hasattr(event.message_type, "value") else str(event.message_type)
        e = Event(code=event.code, account=event.account, sequence=event.sequence, ri=event.ri, message=event.message,
                  partition=event.partition, message_type=mt, encrypted=bool(event.encrypted), receiver=event.receiver,
                  line=event.line, x_data=event.x_data, timestamp=event.timestamp)
        with self._lock:
            self.events.append(e)

    def received(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def start(self) -> "SiaReceiver":
        accounts = [SIAAccount(self.account, self.key)]
        if self.udp:
            self._threaded = ThreadedSIAClient("127.0.0.1", self.port, accounts, self._record,
                                               protocol=CommunicationsProtocol.UDP)
            self._threaded.start()
            return self
        self._thread.start()
        protocol = CommunicationsProtocol.TCP

        async def make_and_start():
            self._client = SIAClient("127.0.0.1", self.port, accounts, self._on_event, protocol=protocol)
            await self._client.async_start()

        asyncio.run_coroutine_threadsafe(make_and_start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._threaded is not None:
            self._threaded.stop()
            self._threaded = None
            return
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.async_stop(), self._loop).result(timeout=10)
            self._client = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> "SiaReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def dc09_toml(*, port: int, account: str = "1234", fmt: str = "sia-dcs", transport: str = "tcp",
              key: str | None = None, backup_port: int | None = None, failover_after: int | None = None,
              supervision_interval_s: int = 0, ack_timeout_ms: int = 2000) -> str:
    lines = [
        'name = "arc"',
        'type = "dc09"',
        'host = "127.0.0.1"',
        f"port = {port}",
        f'transport = "{transport}"',
        f'account = "{account}"',
        f'format = "{fmt}"',
        f"ack_timeout_ms = {ack_timeout_ms}",
        "backoff_initial_ms = 100",
        "backoff_max_ms = 500",
        f"supervision_interval_s = {supervision_interval_s}",
    ]
    if key is not None:
        lines += [f'key = "{key}"', 'key_format = "ascii"']
    if backup_port is not None:
        lines += ['backup_host = "127.0.0.1"', f"backup_port = {backup_port}"]
    if failover_after is not None:
        lines.append(f"failover_after = {failover_after}")
    return "\n".join(lines) + "\n"


def acknowledgements(stdout: str) -> list[dict]:
    """The JSON lines dc09-send prints, one per acknowledged frame."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def write_config(directory: Path, text: str) -> Path:
    path = directory / "dc09.toml"
    path.write_text(text)
    return path
