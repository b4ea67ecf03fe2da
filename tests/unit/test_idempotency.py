"""Idempotency: what makes two requests "the same", and whose keys they are."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.idempotency import RETENTION, IdempotencyGuard, fingerprint
from school_payments.application.ports.idempotency import (
    Claimed,
    ClaimResult,
    IdempotencyClaim,
    InProgress,
    KeyReused,
    Replay,
    StoredResponse,
)
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
    """Keys per scope, with their fingerprint, expiry and (once finished) response."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], tuple[str, datetime, StoredResponse | None]] = {}

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

    async def record(self, claim: IdempotencyClaim, response: StoredResponse) -> None:
        fingerprint, expires, _ = self.records[(claim.scope, claim.key)]
        self.records[(claim.scope, claim.key)] = (fingerprint, expires, response)

    async def purge_expired(self, now: datetime, retention: timedelta) -> int:
        expired = [key for key, (_, expires, _) in self.records.items() if expires <= now]
        for key in expired:
            del self.records[key]
        return len(expired)


def a_school_caller() -> Caller:
    return Caller(key_id=str(new_id()), school_id=new_id())


async def test_the_same_key_from_two_api_keys_is_two_independent_claims() -> None:
    guard = IdempotencyGuard(FakeIdempotencyStore(), FixedClock())
    first = await guard.claim(a_school_caller(), "k-1", "fingerprint-a")
    second = await guard.claim(a_school_caller(), "k-1", "fingerprint-b")
    assert isinstance(first, Claimed)
    assert isinstance(second, Claimed)


async def test_a_key_reused_by_its_caller_with_another_request_is_refused() -> None:
    guard = IdempotencyGuard(FakeIdempotencyStore(), FixedClock())
    await guard.claim(OPERATOR, "k-1", "fingerprint-a")
    assert isinstance(await guard.claim(OPERATOR, "k-1", "fingerprint-b"), KeyReused)
    assert isinstance(await guard.claim(OPERATOR, "k-1", "fingerprint-a"), InProgress)


async def test_a_recorded_refusal_is_replayed_and_a_released_claim_may_be_retried() -> None:
    guard = IdempotencyGuard(FakeIdempotencyStore(), FixedClock())
    refused = await guard.claim(OPERATOR, "k-1", "f")
    assert isinstance(refused, Claimed)
    await guard.record_refusal(refused.claim, StoredResponse(409, b"{}"))
    assert await guard.claim(OPERATOR, "k-1", "f") == Replay(StoredResponse(409, b"{}"))
    released = await guard.claim(OPERATOR, "k-2", "f")
    assert isinstance(released, Claimed)
    await guard.release(released.claim)
    assert isinstance(await guard.claim(OPERATOR, "k-2", "f"), Claimed)


async def test_a_key_is_remembered_for_24_hours() -> None:
    clock = FixedClock()
    guard = IdempotencyGuard(FakeIdempotencyStore(), clock)
    await guard.claim(OPERATOR, "k-1", "f")
    clock.advance(hours=23, minutes=59)
    assert isinstance(await guard.claim(OPERATOR, "k-1", "other"), KeyReused)
    clock.advance(minutes=1)
    assert isinstance(await guard.claim(OPERATOR, "k-1", "other"), Claimed)
    assert timedelta(hours=24) == RETENTION
