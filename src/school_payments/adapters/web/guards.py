"""Limits on what a client may make the server read before the application sees a request.

uvicorn's httptools protocol reads a request line and headers of any size, for as long as the
client cares to send them (a 200 MB `Authorization` header was read for 105 s; a thousand
connections that never finish their headers stay open). This protocol refuses headers over
`HTTP_MAX_HEADER_BYTES` with 431 and closes a connection whose request line and headers are
not complete within `HTTP_HEADER_TIMEOUT_SECONDS`. `serve` runs it for every worker.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from school_payments.settings import Settings

_TOO_LARGE_BODY = (
    b'{"type":"tag:school-payments,2026:problem:request_header_fields_too_large",'
    b'"title":"Request Header Fields Too Large","status":431,'
    b'"detail":"the request line and headers are too large; send smaller headers",'
    b'"code":"request_header_fields_too_large"}'
)
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/problem+json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n\r\n" + _TOO_LARGE_BODY
)


@functools.cache
def _limits() -> tuple[int, float]:
    # Read once per worker process: uvicorn starts workers by importing this class by name.
    settings = Settings.from_env()
    return settings.http_max_header_bytes, settings.http_header_timeout_seconds


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and a header read timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_header_bytes, self._header_timeout = _limits()
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._reading_headers = True
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def _start_header_timer(self) -> None:
        if self._header_timer is None and self._header_timeout > 0:
            self._header_timer = self.loop.call_later(self._header_timeout, self._too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self._reading_headers and not self.transport.is_closing():
            self.transport.close()  # nothing useful to say to a client that sends nothing

    def _refuse(self) -> None:
        self._refused = True
        self._stop_header_timer()
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def _count_parsed(self, size: int) -> None:
        # A request that arrives whole in one read completes its headers inside that read, so
        # counting reads alone (below) would let it through: count what the parser hands over.
        self._parsed_header_bytes += size
        if self._parsed_header_bytes > self._max_header_bytes and not self._refused:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._start_header_timer()

    def on_url(self, url: bytes) -> None:
        self._count_parsed(len(url))
        if not self._refused:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_parsed(len(name) + len(value) + 4)  # "name: value\r\n"
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._stop_header_timer()
        if not self._refused:  # refused: no request cycle, the application never sees it
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        # Headers sent over many reads are refused as soon as the reads pass the limit, before
        # the parser has a whole header to count (a 200 MB header is never read to its end).
        reading = self._reading_headers
        super().data_received(data)
        if reading and self._reading_headers and not self._refused:
            self._header_bytes += len(data)
            if self._header_bytes > self._max_header_bytes:
                self._refuse()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)
