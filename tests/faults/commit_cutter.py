"""A TCP proxy in front of PostgreSQL that drops one connection around one transaction's COMMIT.

The service connects through it. Armed with a marker (text of a statement, such as
`INSERT INTO payments`) and a moment, it watches the client's messages and, at the COMMIT of the
next transaction that ran a statement containing the marker, either

- `before`: drops the connection without passing the COMMIT on; the server rolls back, or
- `after`: passes the COMMIT on, waits until the server has committed, and drops the connection
  before the client hears of it: the work is done and the client cannot know.

Only the client's side of the PostgreSQL protocol is read (startup messages, then messages of a
type byte and a length); the server's side is passed through untouched, except that after a
cut-after COMMIT it is read until the server's ReadyForQuery and thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal

Moment = Literal["before", "after"]

_NEGOTIATION_CODES = (80877103, 80877104)  # SSLRequest, GSSENCRequest: more startup follows
_READY_AFTER_COMMIT = b"Z\x00\x00\x00\x05I"  # ReadyForQuery, idle: the COMMIT is done


def _c_string(payload: bytes, start: int = 0) -> tuple[str, int]:
    end = payload.index(b"\x00", start)
    return payload[start:end].decode("utf-8", "replace"), end + 1


@dataclass
class _Link:
    """One client connection: its prepared statements and whether its transaction is marked."""

    statements: dict[str, str] = field(default_factory=dict)
    marked: bool = False
    swallowing: bool = False  # the server's answers are read and thrown away


@dataclass
class _Plan:
    marker: str
    moment: Moment


class CommitCutter:
    """`arm(marker, moment)`, then wait for `cut` (set once the connection has been dropped)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._plan: _Plan | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.cut = asyncio.Event()
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                await task

    def arm(self, marker: str, moment: Moment) -> None:
        self.cut.clear()
        self._plan = _Plan(marker, moment)

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            server_in, server_out = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_out.close()
            self._tasks.discard(task)
            return
        link = _Link()
        pumps = [
            asyncio.create_task(self._from_client(link, client_in, server_out)),
            asyncio.create_task(self._from_server(link, server_in, client_out)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (client_out, server_out):
                writer.transport.abort()  # a dropped connection, not a polite close
            with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                await asyncio.gather(*pumps, return_exceptions=True)
            self._tasks.discard(task)

    async def _from_client(
        self, link: _Link, source: asyncio.StreamReader, target: asyncio.StreamWriter
    ) -> None:
        buffer = bytearray()
        starting = True
        while data := await source.read(65536):
            buffer += data
            while True:
                if starting:  # untyped: length (itself included), then the payload
                    if len(buffer) < 8:
                        break
                    size = int.from_bytes(buffer[:4], "big")
                    if len(buffer) < size:
                        break
                    message = bytes(buffer[:size])
                    starting = int.from_bytes(message[4:8], "big") in _NEGOTIATION_CODES
                else:  # a type byte, then the length (itself included, type byte not)
                    if len(buffer) < 5:
                        break
                    size = 1 + int.from_bytes(buffer[1:5], "big")
                    if len(buffer) < size:
                        break
                    message = bytes(buffer[:size])
                    if self._is_the_commit_to_cut(link, message):
                        assert self._plan is not None
                        moment, self._plan = self._plan.moment, None
                        if moment == "before":
                            self.cut.set()
                            return  # the COMMIT never reaches the server
                        link.swallowing = True
                        target.write(message)
                        await target.drain()
                        # The server side's pump sets `cut` once the server has committed.
                        await self.cut.wait()
                        return
                del buffer[:size]
                target.write(message)
            await target.drain()

    def _is_the_commit_to_cut(self, link: _Link, message: bytes) -> bool:
        kind, payload = message[:1], message[5:]
        if kind == b"P":  # Parse: statement name, query text, …
            name, after = _c_string(payload)
            query, _ = _c_string(payload, after)
            link.statements[name] = query
        elif kind == b"B":  # Bind: portal name, statement name, …
            _, after = _c_string(payload)
            name, _ = _c_string(payload, after)
            query = link.statements.get(name, "")
            if self._plan is not None and self._plan.marker in query:
                link.marked = True
        elif kind == b"Q":  # a simple query: BEGIN, COMMIT and ROLLBACK come this way
            query, _ = _c_string(payload)
            verb = query.strip().rstrip(";").upper()
            if self._plan is not None and self._plan.marker in query:
                link.marked = True
            if verb in ("COMMIT", "ROLLBACK"):
                marked, link.marked = link.marked, False
                return verb == "COMMIT" and marked and self._plan is not None
        return False

    async def _from_server(
        self, link: _Link, source: asyncio.StreamReader, target: asyncio.StreamWriter
    ) -> None:
        seen = b""
        while data := await source.read(65536):
            if link.swallowing:
                seen += data
                if _READY_AFTER_COMMIT in seen:
                    self.cut.set()
                    return
                continue
            target.write(data)
            await target.drain()
