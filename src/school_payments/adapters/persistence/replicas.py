"""Reads from PostgreSQL streaming replicas, never older than what was acknowledged before them.

The rule (ADR 0020): a read may be served by a replica only if the replica has replayed the
primary's WAL up to where it stood when the read began. Every write the service acknowledged
before that moment had committed, so its commit record lies at or before the primary's
`pg_current_wal_lsn()`; a replica whose `pg_last_wal_replay_lsn()` has reached it shows the
write, on any instance. The check runs on the replica's connection *before* the read's
snapshot is taken (replay only moves forward, so the snapshot is at least as new); a replica
that has not caught up leaves the read to the primary.

A replica that is behind leaves that read to the primary; one that stays behind for longer than
`retry_seconds` (lagging), cannot be reached, or is no longer a standby (promoted: it may have
forked from the primary's history) is left out for `retry_seconds`, then the next read tries it
again. Each change is a log line and a call to `observe_state`; each
read reports who served it and why (`observe_read`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# Failures of reaching a replica: through SQLAlchemy (wrapped), or from the driver directly.
_UNREACHABLE = (
    OSError,
    TimeoutError,
    exc.DBAPIError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)

ReadObserver = Callable[[str, str], None]
"""(served_by: "replica" or "primary", reason: "fresh", "no_replica", "behind", "lagging",
"down", "promoted")."""
StateObserver = Callable[[str, bool], None]
"""(replica name, usable)."""


def lsn(text: str) -> int:
    """A WAL position `X/Y` (hexadecimal halves) as one comparable number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass
class Replica:
    """One replica's engine, and until when it is left out (monotonic seconds)."""

    name: str
    engine: AsyncEngine
    left_out_until: float = 0.0
    reason: str = ""
    behind_since: float | None = None

    @classmethod
    def named(cls, url: str, engine: AsyncEngine) -> Replica:
        parsed = make_url(url)
        return cls(f"{parsed.host}:{parsed.port or 5432}/{parsed.database}", engine)


@dataclass
class ReplicaSet:
    """Picks a replica for a read, in turn, among those not left out."""

    replicas: list[Replica]
    retry_seconds: float = 1.0
    observe_read: ReadObserver = lambda _served_by, _reason: None
    observe_state: StateObserver = lambda _name, _usable: None
    _turn: int = field(default=0, init=False)

    def pick(self) -> Replica | None:
        now = time.monotonic()
        for _ in range(len(self.replicas)):
            replica = self.replicas[self._turn % len(self.replicas)]
            self._turn += 1
            if replica.left_out_until <= now:
                if replica.reason:
                    log.info("replica back in use", extra={"replica": replica.name})
                    replica.reason = ""
                    self.observe_state(replica.name, True)
                return replica
        return None

    def leave_out(self, replica: Replica, reason: str) -> None:
        replica.left_out_until = time.monotonic() + self.retry_seconds
        if replica.reason != reason:
            log.warning(
                "replica left out; reads go to the primary",
                extra={"replica": replica.name, "reason": reason},
            )
            replica.reason = reason
            self.observe_state(replica.name, False)

    async def fresh_connection(
        self, stack: AsyncExitStack, required: Callable[[], Awaitable[str]]
    ) -> AsyncConnection | None:
        """A connection to a replica that has replayed at least up to the primary's position
        (`await required()`, an LSN text), entered into `stack`; None: read from the primary."""
        replica = self.pick()
        if replica is None:
            self.observe_read("primary", "no_replica")
            return None
        position = lsn(await required())
        inner = AsyncExitStack()
        try:
            connection = await inner.enter_async_context(replica.engine.connect())
            raw = await connection.get_raw_connection()
            # Before any SQLAlchemy statement: outside a transaction, so the read's snapshot is
            # taken after this answer (see the module's docstring).
            status = await raw.driver_connection.fetchrow(  # type: ignore[union-attr]
                "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed"
            )
        except _UNREACHABLE as error:  # refused, timed out, shutting down, starting up
            await inner.aclose()
            self.leave_out(replica, "down")
            self.observe_read("primary", "down")
            log.debug("replica check failed", extra={"replica": replica.name, "error": str(error)})
            return None
        reason = self._judge(replica, status["standby"], status["replayed"], position)
        if reason != "fresh":
            await inner.aclose()
            if reason != "behind":
                self.leave_out(replica, reason)
            self.observe_read("primary", reason)
            return None
        stack.push_async_exit(inner)
        self.observe_read("replica", "fresh")
        return connection

    def _judge(self, replica: Replica, standby: bool, replayed: str | None, position: int) -> str:
        if not standby:
            return "promoted"
        if replayed is not None and lsn(replayed) >= position:
            replica.behind_since = None
            return "fresh"
        now = time.monotonic()
        if replica.behind_since is None:
            replica.behind_since = now
        elif now - replica.behind_since > self.retry_seconds:
            replica.behind_since = None
            return "lagging"
        return "behind"
