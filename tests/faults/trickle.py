"""A steady trickle of requests in the background, and what became of each one.

Every request is guarded by `asyncio.wait_for`: one that gets no answer in `HANG_GUARD_SECONDS`
is recorded as hung (status None), and the tests fail on it. Nothing here asserts how fast an
answer came; the timings are recorded so that the tests can report them.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

HANG_GUARD_SECONDS = 5.0

Send = Callable[[str], Awaitable[httpx.Response]]
"""Sends one request; its argument is a token unique to the request (an idempotency key)."""


@dataclass(frozen=True)
class Outcome:
    operation: str
    token: str
    started: float
    ended: float
    response: httpx.Response | None  # None: no answer before the hang guard

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.status_code

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def json(self) -> Any:
        assert self.response is not None
        return self.response.json()

    def within(self, start: float, end: float) -> bool:
        """Sent after `start` and answered before `end`."""
        return start <= self.started and self.ended <= end


@dataclass
class Trickle:
    """`clients` tasks, each sending `operations` in turn with a short pause in between."""

    operations: Mapping[str, Send]
    clients: int = 2
    pause_seconds: float = 0.01
    outcomes: list[Outcome] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False

    async def __aenter__(self) -> Trickle:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stopping = True
        await asyncio.gather(*self._tasks)

    async def _client(self, number: int) -> None:
        names = itertools.cycle(list(self.operations)[number:] + list(self.operations)[:number])
        for sequence in itertools.count():
            if self._stopping:
                return
            name = next(names)
            token = f"trickle-{number}-{sequence}"
            started = time.monotonic()
            try:
                response: httpx.Response | None = await asyncio.wait_for(
                    self.operations[name](token), HANG_GUARD_SECONDS
                )
            except TimeoutError:
                response = None
            self.outcomes.append(Outcome(name, token, started, time.monotonic(), response))
            await asyncio.sleep(self.pause_seconds)

    def of(self, *operations: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.operation in operations]


def seconds_summary(values: Iterable[float]) -> str:
    found = sorted(values)
    if not found:
        return "none"
    return (
        f"{len(found)}, median {statistics.median(found) * 1000:.1f} ms,"
        f" max {found[-1] * 1000:.1f} ms"
    )


async def until(
    check: Callable[[], Awaitable[bool]], *, what: str, guard_seconds: float = 30.0
) -> float:
    """Polls `check` until it holds; returns how long that took (fails the test past the guard)."""
    started = time.monotonic()
    while time.monotonic() - started < guard_seconds:
        if await asyncio.wait_for(check(), HANG_GUARD_SECONDS):
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} did not happen within {guard_seconds} s")
