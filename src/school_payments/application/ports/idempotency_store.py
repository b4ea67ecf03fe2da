"""Idempotency records: a retried request gets the first one's outcome instead of acting twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from school_payments.domain.errors import BusinessRuleError

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Created(Generic[R_co]):
    """The command acted: `value` is what it returned (a payment, an invoice as read that day…)."""

    value: R_co


@dataclass(frozen=True, slots=True)
class Refused:
    """The command was refused by a business rule (a 409): nothing changed, and a retry is
    refused the same way."""

    error: BusinessRuleError


Outcome = Created[R] | Refused
"""What a creating command ended with: what the idempotency record keeps and replays."""


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """Held by the one request that may act under a key; `token` proves it still holds it."""

    scope: str
    key: str
    token: UUID


@dataclass(frozen=True, slots=True)
class Claimed:
    claim: IdempotencyClaim


@dataclass(frozen=True, slots=True)
class Replay:
    outcome: Outcome[object]


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The key was first used for another request (method, path or body)."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """The first request with this key has not finished yet."""


ClaimResult = Claimed | Replay | KeyReused | InProgress


class IdempotencyStore(Protocol):
    """Claims keys in short transactions of their own, so concurrent duplicates see each other."""

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
        """Exactly one concurrent caller gets `Claimed`; the others learn why they did not."""
        ...

    async def release(self, claim: IdempotencyClaim) -> None:
        """Forgets an unfinished claim so a retry may act (no-op if the work was committed)."""
        ...

    async def record(self, claim: IdempotencyClaim, outcome: Refused) -> None:
        """Stores a refusal for replay; the refused work itself changed nothing."""
        ...

    async def purge_expired(self, now: datetime, retention: timedelta) -> int:
        """Deletes records older than the retention period; returns how many."""
        ...


class IdempotencyRecorder(Protocol):
    """Completes a claim inside the unit of work, so the outcome commits with the work."""

    async def complete(self, claim: IdempotencyClaim, outcome: Created[object]) -> None:
        """Raises IdempotencyClaimLostError if the claim was taken over meanwhile."""
        ...
