"""The limits `serve` puts on what a client may make it read (issue 19, item 4), on raw sockets.

A real `school-payments serve` process on loopback (the embedded SQLite default: these limits
live in the HTTP protocol, before any database), with small limits so that every case is quick.
Each socket read is bounded; the bounds are hang guards, not performance claims.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("school-payments")
MAX_HEADER_BYTES = 2048
HEADER_TIMEOUT = 2.0
KEEP_ALIVE = 1.0
MAX_CONCURRENCY = 4
GUARD = 15.0  # seconds: no read in this file may hang longer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`serve --migrate` on a SQLite file of its own, with small HTTP limits."""
    directory = tmp_path_factory.mktemp("limits")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ADMIN_API_KEY": "op_limits-test-key-0123456789",
        "LOG_LEVEL": "WARNING",
        "HTTP_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "HTTP_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
        "HTTP_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
    }
    log = (directory / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(CLI), "serve", "--migrate", "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, (directory / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()


def _connect(address: tuple[str, int]) -> socket.socket:
    connection = socket.create_connection(address, timeout=GUARD)
    connection.settimeout(GUARD)
    return connection


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a hang fails the test)."""
    received = b""
    while True:
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def _request(path: str = "/healthz", extra: str = "", connection: str = "keep-alive") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\n{extra}\r\n"
    ).encode()


def _one_response(connection: socket.socket) -> bytes:
    """One whole response on a kept-alive connection (headers and a Content-Length body)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"closed before a whole response: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "closed in the middle of a body"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_headers_over_the_limit_get_431_problem_json_and_the_connection_is_closed(
    server: tuple[str, int],
) -> None:
    with _connect(server) as connection:
        connection.sendall(_request(extra=f"X-Padding: {'a' * (2 * MAX_HEADER_BYTES)}\r\n"))
        received = _read_until_closed(connection)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), received[:200]
    assert b"application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 431
    assert problem["code"] == "request_header_fields_too_large"


def test_headers_under_the_limit_are_served(server: tuple[str, int]) -> None:
    with _connect(server) as connection:
        connection.sendall(
            _request(extra=f"X-Padding: {'a' * (MAX_HEADER_BYTES // 2)}\r\n", connection="close")
        )
        received = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 200 "), received[:200]


def test_a_huge_header_sent_slowly_is_refused_before_it_is_all_sent(
    server: tuple[str, int],
) -> None:
    # The server answers 431 and closes once the limit is passed: the client's later writes fail
    # (or are discarded), the server never reads megabytes of header.
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        refused = False
        for _ in range(64):
            try:
                connection.sendall(b"a" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                refused = True
                break
        received = b"" if refused else _read_until_closed(connection)
    assert refused or received.startswith(b"HTTP/1.1 431 "), received[:200]


def test_a_request_whose_headers_never_finish_is_closed_after_the_header_timeout(
    server: tuple[str, int],
) -> None:
    with _connect(server) as connection:
        started = time.monotonic()
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line
        received = _read_until_closed(connection)
        waited = time.monotonic() - started
    assert received == b""  # nothing to say to a client that sends nothing
    assert waited >= HEADER_TIMEOUT * 0.9  # closed by the header timer, not at once


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    server: tuple[str, int],
) -> None:
    with _connect(server) as connection:
        started = time.monotonic()
        assert _read_until_closed(connection) == b""
        assert time.monotonic() - started >= HEADER_TIMEOUT * 0.9


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(
    server: tuple[str, int],
) -> None:
    with _connect(server) as connection:
        connection.sendall(_request())
        assert _one_response(connection).startswith(b"HTTP/1.1 200 ")
        connection.sendall(_request())  # still open: a second request on the same connection
        assert _one_response(connection).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert _read_until_closed(connection) == b""
        assert time.monotonic() - started >= KEEP_ALIVE * 0.9


def test_connections_beyond_the_concurrency_limit_get_503_at_once(
    server: tuple[str, int],
) -> None:
    # uvicorn counts the asking connection too: with a limit of N, N - 1 others may be open.
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(_connect(server)) for _ in range(MAX_CONCURRENCY - 1)]
        for connection in held:  # each one is open and served before the next one counts
            connection.sendall(_request())
            assert _one_response(connection).startswith(b"HTTP/1.1 200 ")
        with _connect(server) as extra:
            extra.sendall(_request(connection="close"))
            refused = _read_until_closed(extra)
        assert refused.startswith(b"HTTP/1.1 503 "), refused[:200]
    # Once the held connections are gone, the server takes new ones again.
    deadline = time.monotonic() + GUARD
    while True:
        with _connect(server) as connection:
            connection.sendall(_request(connection="close"))
            if _read_until_closed(connection).startswith(b"HTTP/1.1 200 "):
                break
        assert time.monotonic() < deadline, "the server never took connections again"
        time.sleep(0.05)
