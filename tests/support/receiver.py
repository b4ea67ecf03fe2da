"""A real HTTP receiver on loopback for webhook tests: records what arrives, answers as told."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal

Behaviour = Literal["ok", "error", "hang"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """`behaviour` decides the answer: 200, 500, or no answer at all (hang)."""

    behaviour: Behaviour = "ok"
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    port: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, seconds: float) -> bool:
        """Waits until `count` requests have arrived (False if the time ran out first)."""
        try:
            async with asyncio.timeout(seconds):
                while len(self.received) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            return False
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Down: the port refuses connections until `start(port=self.port)` again."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(headers, body))
            self._arrived.set()
            if self.behaviour == "hang":
                await asyncio.sleep(3600)
            status = "200 OK" if self.behaviour == "ok" else "500 Internal Server Error"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]
