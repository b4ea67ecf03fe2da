"""Idempotency records in the database, beside the rows they guard.

A claim is a row committed in a short transaction of its own, so a concurrent duplicate sees it
at once (and is told "in progress" instead of waiting). The response is written by the command's
own transaction, so the work and its replayable outcome commit together: after a crash or a
lost connection a retry finds either both or neither.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from school_payments.adapters.persistence.database import Database, SqlConnection
from school_payments.adapters.persistence.tables import idempotency_keys as keys
from school_payments.adapters.persistence.value_codec import decode_outcome, encode_outcome
from school_payments.adapters.persistence.write_batch import DeferredWrite
from school_payments.application.errors import IdempotencyClaimLostError
from school_payments.application.ports.clock import Clock
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
from school_payments.domain.ids import new_id


def _completion(outcome: Outcome[object], now: datetime) -> dict[str, Any]:
    return {"completed_at": now, "outcome": encode_outcome(outcome)}


def _mine(claim: IdempotencyClaim) -> Any:
    return (
        (keys.c.scope == claim.scope)
        & (keys.c.key == claim.key)
        & (keys.c.lock_token == claim.token)
        & keys.c.completed_at.is_(None)
    )


_COMPLETE_MINE = update(keys).where(
    keys.c.scope == bindparam("b_scope"),
    keys.c.key == bindparam("b_key"),
    keys.c.lock_token == bindparam("b_token"),
    keys.c.completed_at.is_(None),
)
"""`_mine` with bound parameters, for the completion sent with the command's own writes."""


class SqlIdempotencyStore:
    """Claims, releases and refusals, each in its own short transaction."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

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
        token = new_id()
        fresh = {
            "scope": scope,
            "key": key,
            "fingerprint": fingerprint,
            "created_at": now,
            "lock_token": token,
            "locked_at": now,
        }
        claimed = Claimed(IdempotencyClaim(scope, key, token))
        try:
            async with self._database.transaction() as sql:
                await sql.execute(insert(keys).values(fresh))
                await sql.commit()
            return claimed
        except IntegrityError:
            pass  # the key is known: decide from the existing record
        async with self._database.transaction() as sql:
            row = await sql.first(
                select(keys).where(keys.c.scope == scope, keys.c.key == key).with_for_update()
            )
            if row is None:  # released meanwhile: take it
                await sql.execute(insert(keys).values(fresh))
            elif row.created_at <= now - retention:  # expired: a new first use
                await self._take_over(sql, scope, key, fresh)
            elif row.fingerprint != fingerprint:
                return KeyReused()
            elif row.completed_at is not None:
                return Replay(decode_outcome(bytes(row.outcome)))
            elif row.locked_at > now - lock_timeout:
                return InProgress()
            else:  # the first request died without finishing: this one acts instead
                await self._take_over(sql, scope, key, fresh | {"created_at": row.created_at})
            await sql.commit()
        return claimed

    @staticmethod
    async def _take_over(sql: SqlConnection, scope: str, key: str, values: dict[str, Any]) -> None:
        await sql.execute(
            update(keys)
            .where(keys.c.scope == scope, keys.c.key == key)
            .values(values | {"completed_at": None, "outcome": None})
        )

    async def release(self, claim: IdempotencyClaim) -> None:
        async with self._database.transaction() as sql:
            await sql.execute(delete(keys).where(_mine(claim)))
            await sql.commit()

    async def record(self, claim: IdempotencyClaim, outcome: Refused) -> None:
        async with self._database.transaction() as sql:
            await sql.execute(
                update(keys).where(_mine(claim)).values(_completion(outcome, self._clock.now()))
            )
            await sql.commit()

    async def purge_expired(self, now: datetime, retention: timedelta) -> int:
        async with self._database.transaction() as sql:
            result = await sql.execute(delete(keys).where(keys.c.created_at <= now - retention))
            await sql.commit()
        return int(result.rowcount)


class SqlIdempotencyRecorder:
    """Completes a claim inside the command's transaction."""

    def __init__(self, sql: SqlConnection, clock: Clock) -> None:
        self._sql = sql
        self._clock = clock

    async def complete(self, claim: IdempotencyClaim, outcome: Created[object]) -> None:
        values = _completion(outcome, self._clock.now()) | {
            "b_scope": claim.scope,
            "b_key": claim.key,
            "b_token": claim.token,
        }
        await self._sql.defer(
            DeferredWrite(
                _COMPLETE_MINE,
                values,
                ("idempotency_keys", (claim.scope, claim.key)),
                IdempotencyClaimLostError,
            )
        )
