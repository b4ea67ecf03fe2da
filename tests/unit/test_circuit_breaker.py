"""The circuit breaker: fail fast while a dependency is down, probe it one call at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from school_payments.adapters.resilience.circuit_breaker import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
)
from tests.support.clock import FakeMonotonic

THRESHOLD = 3
COOLDOWN = 10.0


class DependencyDownError(Exception):
    pass


class Dependency:
    """An operation that succeeds or fails on demand and counts how often it was called."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    async def __call__(self) -> str:
        self.calls += 1
        if self.failing:
            raise DependencyDownError()
        return "ok"


class Transitions(list[tuple[BreakerState, BreakerState]]):
    def __call__(self, old: BreakerState, new: BreakerState) -> None:
        self.append((old, new))


def a_breaker(
    clock: FakeMonotonic, transitions: Transitions | None = None, **overrides: float
) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=int(overrides.get("failure_threshold", THRESHOLD)),
        cooldown_seconds=overrides.get("cooldown_seconds", COOLDOWN),
        clock=clock,
        on_change=transitions,
    )


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The state now (a call, so that type checkers do not narrow it across awaits)."""
    return breaker.state


async def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(DependencyDownError):
            await breaker.call(_raise)


async def _raise() -> None:
    raise DependencyDownError()


async def open_breaker(breaker: CircuitBreaker) -> None:
    await fail(breaker, THRESHOLD)
    assert state_of(breaker) is BreakerState.OPEN


def blocked(gate: asyncio.Event, *, then_fail: bool = False) -> Callable[[], Awaitable[str]]:
    async def operation() -> str:
        await gate.wait()
        if then_fail:
            raise DependencyDownError()
        return "late"

    return operation


# -- closed -------------------------------------------------------------------------------------


async def test_a_closed_breaker_passes_calls_and_their_results_through() -> None:
    breaker = a_breaker(FakeMonotonic())
    assert await breaker.call(Dependency()) == "ok"
    assert state_of(breaker) is BreakerState.CLOSED


async def test_the_breaker_opens_after_the_threshold_of_consecutive_failures() -> None:
    breaker = a_breaker(FakeMonotonic())
    await fail(breaker, THRESHOLD - 1)
    assert state_of(breaker) is BreakerState.CLOSED
    await fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN


async def test_a_success_in_between_resets_the_count_of_failures() -> None:
    breaker = a_breaker(FakeMonotonic())
    await fail(breaker, THRESHOLD - 1)
    await breaker.call(Dependency())
    assert breaker.consecutive_failures == 0
    await fail(breaker, THRESHOLD - 1)
    assert state_of(breaker) is BreakerState.CLOSED


def test_a_breaker_refuses_a_threshold_below_one_or_a_negative_cooldown() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(cooldown_seconds=-1)


# -- open ---------------------------------------------------------------------------------------


async def test_an_open_breaker_fails_fast_without_calling_the_operation() -> None:
    clock = FakeMonotonic()
    breaker = a_breaker(clock)
    await open_breaker(breaker)
    dependency = Dependency()
    clock.advance(COOLDOWN - 0.001)
    with pytest.raises(CircuitOpenError):
        await breaker.call(dependency)
    assert dependency.calls == 0


async def test_the_breaker_reads_half_open_once_the_cooldown_has_passed() -> None:
    clock = FakeMonotonic()
    breaker = a_breaker(clock)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    assert state_of(breaker) is BreakerState.HALF_OPEN


# -- half open ----------------------------------------------------------------------------------


async def test_a_successful_trial_call_closes_the_breaker() -> None:
    clock = FakeMonotonic()
    breaker = a_breaker(clock)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    assert await breaker.call(Dependency()) == "ok"
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


async def test_a_failed_trial_call_reopens_the_breaker_for_a_fresh_cooldown() -> None:
    clock = FakeMonotonic()
    breaker = a_breaker(clock)
    await open_breaker(breaker)
    clock.advance(COOLDOWN + 100)
    await fail(breaker)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(COOLDOWN - 0.001)
    with pytest.raises(CircuitOpenError):
        await breaker.call(Dependency())
    clock.advance(0.001)
    assert state_of(breaker) is BreakerState.HALF_OPEN


async def test_only_one_trial_call_runs_at_a_time_the_others_fail_at_once() -> None:
    clock = FakeMonotonic()
    breaker = a_breaker(clock)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    gate = asyncio.Event()
    trial = asyncio.create_task(breaker.call(blocked(gate)))
    await asyncio.sleep(0)  # the trial is admitted and waits on the gate
    dependency = Dependency()
    others = [asyncio.create_task(breaker.call(dependency)) for _ in range(20)]
    results = await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 1)
    assert all(isinstance(r, CircuitOpenError) for r in results)
    assert dependency.calls == 0
    assert not trial.done()
    gate.set()
    assert await trial == "late"
    assert state_of(breaker) is BreakerState.CLOSED
    assert await breaker.call(dependency) == "ok"


# -- cancellation -------------------------------------------------------------------------------


async def test_a_cancelled_call_is_not_counted_as_a_failure() -> None:
    breaker = a_breaker(FakeMonotonic())
    for _ in range(THRESHOLD + 2):
        task = asyncio.create_task(breaker.call(blocked(asyncio.Event())))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


async def test_after_a_cancelled_trial_the_next_caller_may_probe() -> None:
    clock = FakeMonotonic()
    transitions = Transitions()
    breaker = a_breaker(clock, transitions)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    trial = asyncio.create_task(breaker.call(blocked(asyncio.Event())))
    await asyncio.sleep(0)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert await breaker.call(Dependency()) == "ok"
    assert transitions[-2:] == [
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


# -- calls that straddle the opening ------------------------------------------------------------


async def test_calls_started_before_the_breaker_opened_do_not_extend_the_cooldown() -> None:
    clock = FakeMonotonic()
    breaker = a_breaker(clock)
    gate = asyncio.Event()
    slow = [
        asyncio.create_task(breaker.call(blocked(gate, then_fail=True))) for _ in range(THRESHOLD)
    ]
    await asyncio.sleep(0)
    await open_breaker(breaker)
    clock.advance(COOLDOWN - 1)
    gate.set()
    results = await asyncio.gather(*slow, return_exceptions=True)
    assert all(isinstance(r, DependencyDownError) for r in results)
    clock.advance(1)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert await breaker.call(Dependency()) == "ok"


async def test_a_late_failure_of_an_old_call_does_not_fail_the_trial() -> None:
    clock = FakeMonotonic()
    breaker = a_breaker(clock)
    gate = asyncio.Event()
    old = asyncio.create_task(breaker.call(blocked(gate, then_fail=True)))
    await asyncio.sleep(0)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    trial_gate = asyncio.Event()
    trial = asyncio.create_task(breaker.call(blocked(trial_gate)))
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(DependencyDownError):
        await old
    assert state_of(breaker) is BreakerState.HALF_OPEN
    trial_gate.set()
    await trial
    assert state_of(breaker) is BreakerState.CLOSED


# -- the listener -------------------------------------------------------------------------------


async def test_the_listener_sees_every_transition_in_order() -> None:
    clock = FakeMonotonic()
    transitions = Transitions()
    breaker = a_breaker(clock, transitions)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    await fail(breaker)  # the trial fails
    clock.advance(COOLDOWN)
    await breaker.call(Dependency())  # the trial succeeds
    await fail(breaker, THRESHOLD - 1)  # not enough to open again
    closed, opened, half = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
    assert transitions == [
        (closed, opened),
        (opened, half),
        (half, opened),
        (opened, half),
        (half, closed),
    ]


async def test_reading_the_state_does_not_notify_the_listener() -> None:
    clock = FakeMonotonic()
    transitions = Transitions()
    breaker = a_breaker(clock, transitions)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert transitions == [(BreakerState.CLOSED, BreakerState.OPEN)]


async def test_a_zero_cooldown_lets_the_very_next_call_probe() -> None:
    breaker = a_breaker(FakeMonotonic(), cooldown_seconds=0)
    await fail(breaker, THRESHOLD)
    assert await breaker.call(Dependency()) == "ok"
    assert state_of(breaker) is BreakerState.CLOSED
