"""In-memory read-side ports: statements, their rendering, and API keys by hash."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date, datetime
from uuid import UUID

from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.application.pagination import LinesRequest, Page, PageRequest
from school_payments.application.read_models import SchoolStatement, StudentStatement
from school_payments.domain.entities import School
from school_payments.domain.errors import NotFoundError


class FakeStatementReader:
    """Serves prepared statements, respecting the caller's scope, and counts its calls."""

    def __init__(self) -> None:
        self.students: dict[UUID, StudentStatement] = {}
        self.schools: dict[UUID, SchoolStatement] = {}
        self.calls = 0
        self.during_build: list[object] = []
        """Callables (no arguments, maybe async) run while a statement is being built."""

    async def _during(self) -> None:
        for action in self.during_build:
            result = action()  # type: ignore[operator]
            if hasattr(result, "__await__"):
                await result

    async def student_statement(
        self,
        scope: Scope,
        student_id: UUID,
        *,
        as_of: date | None,
        now: datetime,
        lines: LinesRequest | None = None,
    ) -> StudentStatement:
        self.calls += 1
        await self._during()
        statement = self.students.get(student_id)
        if statement is None or not scope.allows(statement.school.id):
            raise NotFoundError("student", student_id)
        return replace(statement, as_of=as_of or statement.school.today(now), generated_at=now)

    async def school_statement(
        self, scope: Scope, school_id: UUID, *, as_of: date | None, now: datetime, page: PageRequest
    ) -> SchoolStatement:
        self.calls += 1
        await self._during()
        statement = self.schools.get(school_id)
        if statement is None or not scope.allows(school_id):
            raise NotFoundError("school", school_id)
        lines = statement.students.items
        start = 0
        if page.after is not None:
            start = 1 + next(i for i, line in enumerate(lines) if line.student.id == page.after)
        chosen = lines[start : start + page.limit]
        more = start + page.limit < len(lines)
        return replace(
            statement,
            as_of=as_of or statement.school.today(now),
            generated_at=now,
            students=Page(chosen, chosen[-1].student.id if more and chosen else None),
        )


class FakeRenderer:
    """A readable document naming what was rendered, so tests can tell bodies apart."""

    def __init__(self, shape: str = "fake") -> None:
        self.shape = shape

    def student(self, statement: StudentStatement) -> bytes:
        return (
            f"student {statement.student.id} as of {statement.as_of}"
            f" generated {statement.generated_at.isoformat()}"
        ).encode()

    def school(self, statement: SchoolStatement) -> bytes:
        ids = ",".join(str(line.student.id) for line in statement.students.items)
        return (
            f"school {statement.school.id} as of {statement.as_of} students [{ids}]"
            f" generated {statement.generated_at.isoformat()}"
        ).encode()


class FakeApiKeyReader:
    """API keys by hash, counting lookups."""

    def __init__(self, *keys: ApiKey) -> None:
        self.keys = {key.key_hash: key for key in keys}
        self.lookups = 0

    async def list(self, school_id: UUID, page: PageRequest) -> Page[ApiKey]:
        found = [k for k in self.keys.values() if k.school_id == school_id]
        return Page(found[: page.limit], None)

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        self.lookups += 1
        return copy.deepcopy(self.keys.get(key_hash))


class FakeSchoolReader:
    """Schools as a scope sees them: another school's is reported missing."""

    def __init__(self, *schools: School) -> None:
        self.schools = {school.id: school for school in schools}

    async def get(self, scope: Scope, school_id: UUID) -> School:
        school = self.schools.get(school_id)
        if school is None or not scope.allows(school_id):
            raise NotFoundError("school", school_id)
        return school

    async def list(self, scope: Scope, page: PageRequest) -> Page[School]:
        visible = [s for s in self.schools.values() if scope.allows(s.id)]
        return Page(visible[: page.limit], None)
