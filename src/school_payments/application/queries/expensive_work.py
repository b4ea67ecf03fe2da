"""The per-school share of expensive work (statements and their documents).

One school's clients asking for many statements at once must not slow every other school down:
each school may run `limit` of them at once per process, and the next is refused at once
(429 with Retry-After) instead of queueing for the database.

Whose share a request counts against: a school key's own school, always (it can see nothing
else, and another school's path must not let it use up that school's share); the operator's
requests count against the school of the resource they read: the path's school for a school
statement, the student's school for a student statement. That one is looked up before any
statement work, through `StudentSchools` (one indexed read, remembered: a student never changes
school); a student that does not exist counts against no one and gets its 404 as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.ports.limits import StudentSchools, TenantLimiter


class ExpensiveWork:
    """Runs expensive work inside the share of the school it is done for."""

    def __init__(self, limiter: TenantLimiter, student_schools: StudentSchools) -> None:
        self._limiter = limiter
        self._student_schools = student_schools

    async def _school_for(
        self, caller: Caller, owner: Literal["school", "student"], owner_id: UUID
    ) -> UUID | None:
        if caller.school_id is not None:
            return caller.school_id
        if owner == "school":
            return owner_id
        return await self._student_schools.school_of(owner_id)

    @asynccontextmanager
    async def statement(
        self, caller: Caller, owner: Literal["school", "student"], owner_id: UUID
    ) -> AsyncIterator[None]:
        """A slot of the school's share for one statement (raises TenantBusyError when full)."""
        school_id = await self._school_for(caller, owner, owner_id)
        if school_id is None:
            yield
            return
        async with self._limiter.slot(school_id):
            yield
