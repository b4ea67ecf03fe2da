"""Idempotency keys: one request acts under a key; its retries within 24 h get its outcome.

The guard owns the whole flow (see docs/adr/0014): claim the key, act, and keep the outcome (the
command's result, or its refusal) for replay. The web adapter only reads the header and renders
whatever outcome comes back, fresh or replayed, once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar, cast

from school_payments.application.caller import Caller
from school_payments.application.errors import (
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
)
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.idempotency_store import (
    Claimed,
    Created,
    IdempotencyClaim,
    IdempotencyStore,
    InProgress,
    KeyReused,
    Outcome,
    Refused,
    Replay,
)
from school_payments.domain.errors import BusinessRuleError

log = logging.getLogger(__name__)
R = TypeVar("R")

RETENTION = timedelta(hours=24)
LOCK_TIMEOUT = timedelta(seconds=30)
"""How long an unfinished claim blocks its key. A request whose process died mid-way leaves one;
no live request runs this long (database statements time out well before)."""


@dataclass(frozen=True, slots=True)
class IdempotentOutcome(Generic[R]):
    """The outcome to answer with, and whether it is a replay of an earlier request's."""

    outcome: Outcome[R]
    replayed: bool


def fingerprint(method: str, path: str, body: object) -> str:
    """What makes two requests "the same": method, path and JSON content (key order ignored)."""
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


async def _quietly(operation: Awaitable[None], what: str) -> None:
    # Bookkeeping after the real outcome is known must not replace that outcome with another error.
    try:
        await asyncio.shield(operation)
    except Exception as error:  # noqa: BLE001 - logged; the claim expires by itself
        log.warning(
            "idempotency bookkeeping failed", extra={"step": what, "error": type(error).__name__}
        )


class IdempotencyGuard:
    """Lets exactly one request act under a caller's key; the others replay or are refused."""

    def __init__(
        self,
        store: IdempotencyStore,
        clock: Clock,
        *,
        retention: timedelta = RETENTION,
        lock_timeout: timedelta = LOCK_TIMEOUT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention
        self._lock_timeout = lock_timeout

    async def run(
        self,
        caller: Caller,
        key: str,
        request_fingerprint: str,
        act: Callable[[IdempotencyClaim], Awaitable[R]],
    ) -> IdempotentOutcome[R]:
        """Acts at most once per (caller, key); `act` commits its result with the claim.

        Raises IdempotencyKeyReusedError (the key named another request) or
        IdempotencyKeyInUseError (its first request is still running).
        """
        claim = await self._store.claim(
            scope=caller.key_id,
            key=key,
            fingerprint=request_fingerprint,
            now=self._clock.now(),
            retention=self._retention,
            lock_timeout=self._lock_timeout,
        )
        if isinstance(claim, Replay):
            # The record was written for this same request (same method, path and body), so its
            # outcome is of the type this request's command returns.
            return IdempotentOutcome(cast(Outcome[R], claim.outcome), replayed=True)
        if isinstance(claim, KeyReused):
            raise IdempotencyKeyReusedError()
        if isinstance(claim, InProgress):
            raise IdempotencyKeyInUseError()
        assert isinstance(claim, Claimed)
        try:
            value = await act(claim.claim)
        except BusinessRuleError as error:
            refused = Refused(error)
            await _quietly(self._store.record(claim.claim, refused), "record refusal")
            return IdempotentOutcome(refused, replayed=False)
        except BaseException:
            # Nothing was committed (or the commit's fate is unknown, and then the record written
            # in the same transaction decides): let a retry act.
            await _quietly(self._store.release(claim.claim), "release")
            raise
        return IdempotentOutcome(Created(value), replayed=False)

    async def purge_expired(self) -> int:
        """Forgets keys past their 24 hours, so the table holds one day of keys, not all time."""
        return await self._store.purge_expired(self._clock.now(), self._retention)
