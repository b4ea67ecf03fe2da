"""Account statements: from the cache when its entry is current, else from the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.pagination import LinesRequest, PageRequest
from school_payments.application.ports.cache import (
    CachedStatement,
    CacheOutcome,
    StatementCache,
    StatementKey,
)
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.readers import StatementReader
from school_payments.application.ports.rendering import StatementRenderer
from school_payments.application.queries.expensive_work import ExpensiveWork
from school_payments.application.read_models import RenderedStatement
from school_payments.domain.calendar import latest_today, today_in
from school_payments.domain.entities import School
from school_payments.domain.errors import InvalidValueError, NotFoundError

log = logging.getLogger(__name__)

SLOW_STATEMENT_SECONDS = 0.5
"""A statement that takes longer than this to compute is logged for an operator to look at."""


@dataclass(frozen=True, slots=True)
class _Built:
    school: School
    day: date
    body: bytes


def _variant(
    shape: str,
    as_of: date | None,
    page: PageRequest | None = None,
    lines: LinesRequest | None = None,
) -> str:
    # The document's shape first: an entry written by a release with another shape (the other
    # side of a rolling deploy, or one just before it) sits under another key and is never
    # served, so the API never sends an undocumented shape and its readers need no fallbacks.
    text = f"shape={shape};asof={as_of.isoformat() if as_of else 'today'}"
    if page is not None:
        text += f";limit={page.limit};after={page.after or ''}"
    if lines is not None:
        text += f";lines={lines.limit};lines_after={lines.after or ''}"
    return text


def _refuse_impossible_day(as_of: date | None, now: datetime) -> None:
    # A day after today everywhere on Earth is wrong for every school: refuse it before any
    # lookup, so a bad request gets 422 even for a missing student. Days that are only in the
    # future for this school's time zone are refused once the school is known.
    if as_of is not None and as_of > latest_today(now):
        raise InvalidValueError("as_of", "as_of may not be after today in the school's time zone")


class StatementQueries:
    """Statements exact to the cent: a cached entry is served only while no write has happened."""

    def __init__(
        self,
        reader: StatementReader,
        cache: StatementCache,
        renderer: StatementRenderer,
        clock: Clock,
        expensive_work: ExpensiveWork | None = None,
    ) -> None:
        """`expensive_work`: the per-school share a statement computed afresh runs in (None: no
        share); a statement served from the cache costs next to nothing and takes none."""
        self._reader = reader
        self._cache = cache
        self._renderer = renderer
        self._clock = clock
        self._expensive_work = expensive_work

    async def student(
        self,
        caller: Caller,
        student_id: UUID,
        *,
        as_of: date | None,
        lines: LinesRequest | None = None,
    ) -> RenderedStatement:
        """The statement with the page of invoice lines `lines` asks for; None: every line (for
        the PDF and CSV renderings, which carry every line)."""
        now = self._clock.now()
        _refuse_impossible_day(as_of, now)

        async def build() -> _Built:
            statement = await self._reader.student_statement(
                caller.scope, student_id, as_of=as_of, now=now, lines=lines
            )
            return _Built(statement.school, statement.as_of, self._renderer.student(statement))

        key = StatementKey(
            "student", student_id, _variant(self._renderer.shape, as_of, lines=lines)
        )
        return await self._serve(caller, key, as_of, now, build)

    async def school(
        self, caller: Caller, school_id: UUID, *, as_of: date | None, page: PageRequest
    ) -> RenderedStatement:
        now = self._clock.now()
        _refuse_impossible_day(as_of, now)

        async def build() -> _Built:
            statement = await self._reader.school_statement(
                caller.scope, school_id, as_of=as_of, now=now, page=page
            )
            return _Built(statement.school, statement.as_of, self._renderer.school(statement))

        key = StatementKey("school", school_id, _variant(self._renderer.shape, as_of, page))
        return await self._serve(caller, key, as_of, now, build)

    def _share(self, caller: Caller, key: StatementKey) -> AbstractAsyncContextManager[None]:
        if self._expensive_work is None:
            return nullcontext()
        return self._expensive_work.statement(caller, key.owner, key.owner_id)

    async def _serve(
        self,
        caller: Caller,
        key: StatementKey,
        as_of: date | None,
        now: datetime,
        build: Callable[[], Awaitable[_Built]],
    ) -> RenderedStatement:
        lookup = await self._cache.lookup(key)
        entry = lookup.entry
        if entry is not None:
            if not caller.scope.allows(entry.school_id):
                raise NotFoundError(key.owner, key.owner_id)
            # An entry for "today" goes stale at the school's midnight, whatever its TTL says.
            if as_of is not None or entry.day == today_in(entry.timezone, now):
                return RenderedStatement(entry.school_id, entry.body, CacheOutcome.HIT)
        started = time.perf_counter()
        async with self._share(caller, key):
            built = await build()
        elapsed = time.perf_counter() - started
        if elapsed > SLOW_STATEMENT_SECONDS:
            log.warning(
                "slow statement query",
                extra={"statement": key.owner, "owner_id": str(key.owner_id), "seconds": elapsed},
            )
        if lookup.slot is not None:
            await self._cache.store(
                lookup.slot,
                CachedStatement(built.school.id, built.day, built.school.timezone, built.body),
            )
        outcome = (
            CacheOutcome.BYPASS if lookup.outcome is CacheOutcome.BYPASS else CacheOutcome.MISS
        )
        return RenderedStatement(built.school.id, built.body, outcome)
