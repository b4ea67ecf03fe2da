"""A circuit breaker for coroutines: CLOSED → OPEN → HALF_OPEN → CLOSED.

Written here rather than taken from a library because, measured: pybreaker never trips on
coroutines, and purgatory and circuitbreaker let every concurrent caller through in HALF_OPEN.
Here exactly one trial call runs in HALF_OPEN; the others fail fast until it finishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    """Calls go through; consecutive failures are counted."""
    OPEN = "OPEN"
    """Calls fail at once until the cool-down has passed."""
    HALF_OPEN = "HALF_OPEN"
    """One trial call goes through; its outcome closes or re-opens the circuit."""


class CircuitOpenError(Exception):
    """The call was not attempted: the circuit is open (or its one trial call is running)."""


StateListener = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """Fails fast while a dependency is down and probes it with one call at a time to see it return.

    A failure is any exception the call raises, except cancellation: a caller that gave up says
    nothing about the dependency. Calls that started before the circuit opened and fail after it
    do not push the cool-down further out.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: StateListener | None = None,
    ) -> None:
        if failure_threshold < 1 or cooldown_seconds < 0:
            raise ValueError("failure_threshold must be ≥ 1 and cooldown_seconds ≥ 0")
        self._threshold = failure_threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        """The state as a caller would find it now (OPEN turns HALF_OPEN once cooled down)."""
        if self._state is BreakerState.OPEN and self._cooled_down():
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Runs `operation` unless the circuit forbids it (then raises CircuitOpenError)."""
        trial = self._admit()
        try:
            result = await operation()
        except asyncio.CancelledError:
            if trial:
                self._trial_running = False  # let the next caller probe instead
            raise
        except Exception:
            self._record_failure(trial)
            raise
        self._record_success(trial)
        return result

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self._cooldown

    def _admit(self) -> bool:
        """Lets a call through or raises; returns whether it is the HALF_OPEN trial call."""
        if self._state is BreakerState.OPEN:
            if not self._cooled_down():
                raise CircuitOpenError()
            self._transition(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._trial_running:
                raise CircuitOpenError()
            self._trial_running = True
            return True
        return False

    def _record_failure(self, trial: bool) -> None:
        if trial:
            self._trial_running = False
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()

    def _record_success(self, trial: bool) -> None:
        if trial:
            self._trial_running = False
            self._failures = 0
            self._transition(BreakerState.CLOSED)
        elif self._state is BreakerState.CLOSED:
            self._failures = 0

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new and self._on_change is not None:
            self._on_change(old, new)
