"""A synchronous call that outlives the process that asked for it.

A sync route answers with the results themselves and leaves no task to look for: when the process waiting for
the answer dies (a crash, a kill, the terminal closed, a quit), the answer is lost and the call may have been
billed. So the POST is made by a small helper process in a session of its own, which writes what came back to
a file; the engine waits for that file, and an engine started after a crash finds the answer there, or the
helper still at work, and goes on as if it had never stopped. Only a helper that died too (the machine went
down) leaves a call nobody can settle.

The files of one attempt, in the calls folder next to the database (0600: prompts and result URLs are private):
  NAME.ticket    what to send (URL, headers without the key, body, timeouts), written by the engine
  NAME.sending   the ticket once the helper took it: only after that rename may the helper send
  NAME.answer    what came back (status, headers, body), or how the exchange failed, written whole
  NAME.void      a ticket an engine took back after a crash: provably never sent
Who has the ticket is decided by one rename, which only one of the two can win, so a call is sent at most
once. The helper holds an exclusive lock on the ticket from before its rename until its answer is written: a
`.sending` file nobody holds, without an answer, is a call whose helper died: lost.

The key never goes into a file or a command line: the helper reads it from its stdin.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import httpx

from qwentui.core.config import write_private

# Errors after which the server provably cannot have acted on the request: nothing was sent (no connection,
# no free connection in the pool, a URL it cannot send to, a request httpx refused to write), or the request
# was not written whole (a write that timed out), and a server cannot process a JSON body it has not received
# entirely. A failed write (httpx.WriteError) is not here: httpcore then reads the answer anyway, and what
# surfaces is the read's error, which cannot tell a failed write from an answer lost after the work.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.WriteTimeout,
)

# Right before its POST, the helper asks for one row of the task list (`probe_url` in the ticket) until an answer
# comes without a 5xx, a 429 or a lost connection: a POST sent into a service failing right now (a storm) would
# likely meet the same, and a sync call whose answer is lost may have been billed and leaves nothing to look for.
# A look from the engine is seconds old by the time a helper process has started and sends (an engine-side hold
# was tried: the storm answers sync POSTs met did not drop, bench/README.md); this look is not.
PROBE_LIMIT = 15.0  # seconds at most; then the POST goes and its own answer decides, as before
PROBE_PAUSES = (0.25, 0.5, 1.0, 2.0)  # between probes, then the last one again

_WIRE_ONLY = frozenset({"content-encoding", "content-length", "transfer-encoding"})
SUPPORTED = os.name == "posix"  # a session of its own and flock: elsewhere the engine makes the call itself
POLL = 0.05  # seconds between looks at a helper at work
TEMPORARY = ".tmp"  # a call's file while it is written (not .part: that is a download left half-way)


class Left(Enum):
    """What a call left behind, as an engine started after a crash finds it."""

    NOT_SENT = "not sent"  # its ticket was still there, and is now void: sending it again is safe
    LOST = "lost"  # sent (or maybe), and nobody will ever hear the answer
    IN_FLIGHT = "in flight"  # its helper is at work


@dataclass(frozen=True)
class CallFiles:
    folder: Path
    name: str

    def _file(self, suffix: str) -> Path:
        return self.folder / f"{self.name}.{suffix}"

    @property
    def ticket(self) -> Path:
        return self._file("ticket")

    @property
    def sending(self) -> Path:
        return self._file("sending")

    @property
    def answer(self) -> Path:
        return self._file("answer")

    @property
    def void(self) -> Path:
        return self._file("void")

    def all(self) -> Iterator[Path]:
        return iter((self.ticket, self.sending, self.answer, self.void))


class SyncCalls:
    """The engine's side: start a helper per call, wait for its answer, and settle what a crash left."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def files(self, name: str) -> CallFiles:
        return CallFiles(self.folder, name)

    def left_by(self, name: str) -> bool:
        """Whether this call went through a helper (a ticket was written): else nothing can be found for it."""
        return any(path.exists() for path in self.files(name).all())

    def write_ticket(self, name: str, spec: dict[str, Any]) -> None:
        """Before the job is committed as sending: an engine that finds it SUBMITTING then always finds a file
        of the call, and one whose ticket no helper took knows that it was never sent."""
        files = self.files(name)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in files.all():  # an attempt that stopped before its commit, or a database restored from a backup
            path.unlink(missing_ok=True)
        write_private(files.ticket, json.dumps(spec), partial=TEMPORARY)

    async def call(self, name: str, key: str) -> dict[str, Any] | Left:
        """Send the call's ticket through a helper and wait for its answer; a `Left` when it ended without one."""
        files = self.files(name)
        helper = subprocess.Popen(
            [sys.executable, "-m", "qwentui.core.sync_call", str(files.ticket)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a kill of the engine, or of its terminal's process group, spares it
            close_fds=True,
        )
        assert helper.stdin is not None
        with contextlib.suppress(OSError):  # a helper that died at once: its ticket says what happened
            helper.stdin.write(key.encode() + b"\n")
            helper.stdin.close()
        while helper.poll() is None:
            await asyncio.sleep(POLL)
        return await self.wait(name)

    async def wait(self, name: str) -> dict[str, Any] | Left:
        """The answer of a call, waiting while its helper is at work; a `Left` when there is none to wait for."""
        while (found := self.settle(name)) is Left.IN_FLIGHT:
            await asyncio.sleep(POLL)
        return found

    def settle(self, name: str) -> dict[str, Any] | Left:
        files = self.files(name)
        if (answer := _read(files.answer)) is not None:
            return answer
        with contextlib.suppress(FileNotFoundError):
            os.rename(files.ticket, files.void)  # the helper never took it, and now never will
            return Left.NOT_SENT
        if files.sending.exists():
            if _held(files.sending):
                return Left.IN_FLIGHT
            if (answer := _read(files.answer)) is not None:  # written between the two looks
                return answer
        return Left.LOST

    def forget(self, name: str) -> None:
        """The call is settled in the database: its files go (the answer holds private result URLs)."""
        for path in self.files(name).all():
            path.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _held(path: Path) -> bool:
    """Whether a live helper holds the lock on this file."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took
    return False


# ---- the helper -----------------------------------------------------------------------------------------


def exchange(spec: dict[str, Any], key: str) -> dict[str, Any]:
    """One POST, as `DashScopeClient._send` makes it; what came back, or how it failed and whether it was sent."""
    host = httpx.URL(spec["url"]).host
    headers = {**spec["headers"], "Authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(spec["timeout"], connect=spec["connect_timeout"])
    try:
        with httpx.Client(timeout=timeout) as client:
            wait_until_healthy(client, spec.get("probe_url"), headers)
            response = client.post(spec["url"], json=spec["body"], headers=headers)
    except NOT_SENT as exc:
        return {"error": f"cannot reach {host}: {type(exc).__name__} {exc}", "sent": False}
    except httpx.TimeoutException as exc:
        return {"error": f"{host} did not answer in time ({type(exc).__name__})", "sent": True}
    except (httpx.TransportError, OSError) as exc:
        return {"error": f"connection to {host} failed: {type(exc).__name__} {exc}", "sent": True}
    return {
        "status": response.status_code,
        # the body as decoded: the headers that described its encoding on the wire no longer apply
        "headers": [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_ONLY],
        "body": base64.b64encode(response.content).decode("ascii"),
    }


def wait_until_healthy(
    client: httpx.Client, url: str | None, headers: dict[str, str], limit: float = PROBE_LIMIT
) -> int:
    """Probe `url` until the service answers it well, `limit` seconds at most; returns the probes made. A probe
    changes nothing, so its own failures are only its answer: they never decide the POST's fate."""
    if not url:
        return 0
    started = time.monotonic()
    for probes in range(1, 10_000):
        try:
            status = client.get(url, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        if (0 < status < 500 and status != 429) or time.monotonic() - started >= limit:
            return probes
        time.sleep(PROBE_PAUSES[min(probes - 1, len(PROBE_PAUSES) - 1)])
    return 10_000


def main(argv: list[str]) -> int:
    import fcntl

    ticket = Path(argv[0])
    key = sys.stdin.readline().strip()
    if not key:
        return 2  # the engine died before it could say the key: the ticket stays, and is found never sent
    try:
        fd = os.open(ticket, os.O_RDONLY)
    except FileNotFoundError:
        return 0  # an engine took it back
    fcntl.flock(fd, fcntl.LOCK_EX)  # held until this process ends, after the answer is written
    files = CallFiles(ticket.parent, ticket.name.removesuffix(".ticket"))
    try:
        os.rename(ticket, files.sending)
    except FileNotFoundError:
        return 0  # taken back between our open and our rename: never sent
    with os.fdopen(fd, encoding="utf-8") as source:
        spec = json.loads(source.read())
        try:
            answer = exchange(spec, key)
        except Exception as exc:  # anything else: the request may have gone, say so rather than nothing
            answer = {"error": f"the call's helper failed: {type(exc).__name__}", "sent": True}
        write_private(files.answer, json.dumps(answer), partial=TEMPORARY)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
