"""Idempotency keys: one request acts under a key; its retries within 24 h replay its response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from school_payments.application.caller import Caller
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.idempotency import (
    ClaimResult,
    IdempotencyClaim,
    IdempotencyStore,
    StoredResponse,
)

R = TypeVar("R")

RETENTION = timedelta(hours=24)
LOCK_TIMEOUT = timedelta(seconds=30)
"""How long an unfinished claim blocks its key. A request whose process died mid-way leaves one;
no live request runs this long (database statements time out well before)."""


@dataclass(frozen=True, slots=True)
class Idempotent(Generic[R]):
    """The claim a command runs under, and how its result becomes the response a retry replays."""

    claim: IdempotencyClaim
    respond: Callable[[R], StoredResponse]


def fingerprint(method: str, path: str, body: object) -> str:
    """What makes two requests "the same": method, path and JSON content (key order ignored)."""
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class IdempotencyGuard:
    """Lets exactly one request act under a caller's key; the others replay, wait or are refused."""

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

    async def claim(self, caller: Caller, key: str, request_fingerprint: str) -> ClaimResult:
        return await self._store.claim(
            scope=caller.key_id,
            key=key,
            fingerprint=request_fingerprint,
            now=self._clock.now(),
            retention=self._retention,
            lock_timeout=self._lock_timeout,
        )

    async def release(self, claim: IdempotencyClaim) -> None:
        await self._store.release(claim)

    async def record_refusal(self, claim: IdempotencyClaim, response: StoredResponse) -> None:
        await self._store.record(claim, response)

    async def purge_expired(self) -> int:
        """Forgets keys past their 24 hours, so the table holds one day of keys, not all time."""
        return await self._store.purge_expired(self._clock.now(), self._retention)
