"""The share of expensive work each school may run at once, and what it needs to know."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol
from uuid import UUID


class TenantLimiter(Protocol):
    """At most a fixed number of expensive jobs of one school at once; one more is refused at
    once with TenantBusyError (never queued: a queue would only make the school's clients and
    everyone else wait longer)."""

    def slot(self, school_id: UUID) -> AbstractAsyncContextManager[None]: ...


class StudentSchools(Protocol):
    """Which school a student belongs to (a student never changes school), cheaply."""

    async def school_of(self, student_id: UUID) -> UUID | None:
        """The student's school, or None when there is no such student."""
        ...


SchemaState = Literal["ok", "behind"]


class SchemaProbe(Protocol):
    """Whether the database's schema is the one this code was written for."""

    async def state(self) -> SchemaState:
        """`behind` while migrations are missing; raises DatabaseUnavailableError if it cannot
        tell."""
        ...
