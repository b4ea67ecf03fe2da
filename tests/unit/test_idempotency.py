"""Idempotency: what makes two requests "the same", and whose keys they are."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.errors import IdempotencyKeyInUseError, IdempotencyKeyReusedError
from school_payments.application.idempotency_guard import RETENTION, IdempotencyGuard, fingerprint
from school_payments.application.ports.idempotency_store import (
    Claimed,
    ClaimResult,
    Created,
    IdempotencyClaim,
    InProgress,
    KeyReused,
    Outcome,
    Refused,
    Replay,
)
from school_payments.domain.errors import InvoiceNotPayableError
from school_payments.domain.ids import new_id
from tests.support.clock import FixedClock

# -- idempotency fingerprints -------------------------------------------------------------------


def test_key_order_does_not_change_the_fingerprint() -> None:
    a = fingerprint("POST", "/api/v1/schools", {"name": "C", "timezone": "UTC"})
    b = fingerprint("POST", "/api/v1/schools", {"timezone": "UTC", "name": "C"})
    assert a == b


def test_nested_key_order_does_not_change_the_fingerprint() -> None:
    a = fingerprint("POST", "/p", {"x": {"a": 1, "b": [1, {"c": 2, "d": 3}]}})
    b = fingerprint("POST", "/p", {"x": {"b": [1, {"d": 3, "c": 2}], "a": 1}})
    assert a == b


def test_the_fingerprint_is_of_the_content_not_its_whitespace() -> None:
    compact = json.loads('{"amount":100,"method":"cash"}')
    spaced = json.loads('{\n  "amount" : 100 ,\n  "method" : "cash"\n}\n')
    assert fingerprint("POST", "/p", compact) == fingerprint("POST", "/p", spaced)


def test_the_method_case_does_not_matter_but_the_method_does() -> None:
    body = {"amount": 100}
    assert fingerprint("post", "/p", body) == fingerprint("POST", "/p", body)
    assert fingerprint("POST", "/p", body) != fingerprint("PUT", "/p", body)


def test_the_same_body_on_another_path_is_another_request() -> None:
    body = {"amount": 100, "method": "cash"}
    first = fingerprint("POST", f"/api/v1/invoices/{new_id()}/payments", body)
    second = fingerprint("POST", f"/api/v1/invoices/{new_id()}/payments", body)
    assert first != second


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"amount": 100}, {"amount": 101}),
        ({"amount": 100}, {"amount": "100"}),
        ({"reference": None}, {}),
        ([1, 2], [2, 1]),
        ({"name": "Ana"}, {"name": "ana"}),
    ],
)
def test_a_different_content_is_a_different_fingerprint(one: object, other: object) -> None:
    assert fingerprint("POST", "/p", one) != fingerprint("POST", "/p", other)


def test_a_body_with_unicode_and_lone_surrogates_still_has_a_fingerprint() -> None:
    assert fingerprint("POST", "/p", {"name": "Colegio Ñandú \ud800"}) != fingerprint(
        "POST", "/p", {"name": "Colegio Ñandú"}
    )


# -- the guard ----------------------------------------------------------------------------------


class FakeIdempotencyStore:
    """Keys per scope, with their fingerprint, expiry and (once finished) outcome."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], tuple[str, datetime, Outcome[object] | None]] = {}

    async def claim(
        self,
        *,
        scope: str,
        key: str,
        fingerprint: str,
        now: datetime,
        retention: timedelta,
        lock_timeout: timedelta,
    ) -> ClaimResult:
        found = self.records.get((scope, key))
        if found is not None and found[1] > now:
            if found[0] != fingerprint:
                return KeyReused()
            return InProgress() if found[2] is None else Replay(found[2])
        self.records[(scope, key)] = (fingerprint, now + retention, None)
        return Claimed(IdempotencyClaim(scope, key, uuid4()))

    async def release(self, claim: IdempotencyClaim) -> None:
        self.records.pop((claim.scope, claim.key), None)

    async def record(self, claim: IdempotencyClaim, outcome: Outcome[object]) -> None:
        fingerprint, expires, _ = self.records[(claim.scope, claim.key)]
        self.records[(claim.scope, claim.key)] = (fingerprint, expires, outcome)

    async def purge_expired(self, now: datetime, retention: timedelta) -> int:
        expired = [key for key, (_, expires, _) in self.records.items() if expires <= now]
        for key in expired:
            del self.records[key]
        return len(expired)


def a_school_caller() -> Caller:
    return Caller(key_id=str(new_id()), school_id=new_id())


class Command:
    """A creating command that commits its result with its claim, as the real handlers do."""

    def __init__(self, store: FakeIdempotencyStore, result: str = "created") -> None:
        self.store = store
        self.result = result
        self.runs = 0

    async def __call__(self, claim: IdempotencyClaim) -> str:
        self.runs += 1
        await self.store.record(claim, Created(self.result))
        return self.result


class Refusing:
    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self, claim: IdempotencyClaim) -> str:
        self.runs += 1
        raise InvoiceNotPayableError("PAID")


class Hanging:
    """A command still running: its claim stays unfinished."""

    async def __call__(self, claim: IdempotencyClaim) -> str:
        raise asyncio.CancelledError


async def test_the_first_request_acts_and_a_retry_replays_its_outcome() -> None:
    store = FakeIdempotencyStore()
    guard = IdempotencyGuard(store, FixedClock())
    act = Command(store)
    first = await guard.run(OPERATOR, "k-1", "f", act)
    again = await guard.run(OPERATOR, "k-1", "f", act)
    assert (first.outcome, first.replayed) == (Created("created"), False)
    assert (again.outcome, again.replayed) == (Created("created"), True)
    assert act.runs == 1


async def test_the_same_key_from_two_api_keys_is_two_independent_requests() -> None:
    store = FakeIdempotencyStore()
    guard = IdempotencyGuard(store, FixedClock())
    act = Command(store)
    await guard.run(a_school_caller(), "k-1", "fingerprint-a", act)
    second = await guard.run(a_school_caller(), "k-1", "fingerprint-b", act)
    assert not second.replayed
    assert act.runs == 2


async def test_a_key_reused_by_its_caller_with_another_request_is_refused() -> None:
    store = FakeIdempotencyStore()
    guard = IdempotencyGuard(store, FixedClock())
    await guard.run(OPERATOR, "k-1", "fingerprint-a", Command(store))
    with pytest.raises(IdempotencyKeyReusedError):
        await guard.run(OPERATOR, "k-1", "fingerprint-b", Command(store))


async def test_a_key_whose_first_request_is_still_running_is_refused_at_once() -> None:
    store = FakeIdempotencyStore()
    guard = IdempotencyGuard(store, FixedClock())
    await store.claim(
        scope=OPERATOR.key_id,
        key="k-1",
        fingerprint="f",
        now=FixedClock().now(),
        retention=RETENTION,
        lock_timeout=timedelta(seconds=30),
    )
    act = Command(store)
    with pytest.raises(IdempotencyKeyInUseError):
        await guard.run(OPERATOR, "k-1", "f", act)
    assert act.runs == 0


async def test_a_refusal_is_recorded_and_replayed_without_acting_again() -> None:
    store = FakeIdempotencyStore()
    guard = IdempotencyGuard(store, FixedClock())
    refusing = Refusing()
    first = await guard.run(OPERATOR, "k-1", "f", refusing)
    again = await guard.run(OPERATOR, "k-1", "f", refusing)
    assert isinstance(first.outcome, Refused)
    assert isinstance(first.outcome.error, InvoiceNotPayableError)
    assert again.replayed
    assert again.outcome == first.outcome
    assert refusing.runs == 1


async def test_a_request_that_failed_releases_its_key_for_a_retry() -> None:
    store = FakeIdempotencyStore()
    guard = IdempotencyGuard(store, FixedClock())
    with pytest.raises(asyncio.CancelledError):
        await guard.run(OPERATOR, "k-1", "f", Hanging())
    retried = await guard.run(OPERATOR, "k-1", "f", Command(store))
    assert (retried.outcome, retried.replayed) == (Created("created"), False)


async def test_a_key_is_remembered_for_24_hours() -> None:
    clock = FixedClock()
    store = FakeIdempotencyStore()
    guard = IdempotencyGuard(store, clock)
    await guard.run(OPERATOR, "k-1", "f", Command(store))
    clock.advance(hours=23, minutes=59)
    with pytest.raises(IdempotencyKeyReusedError):
        await guard.run(OPERATOR, "k-1", "other", Command(store))
    clock.advance(minutes=1)
    assert not (await guard.run(OPERATOR, "k-1", "other", Command(store))).replayed
    assert timedelta(hours=24) == RETENTION
