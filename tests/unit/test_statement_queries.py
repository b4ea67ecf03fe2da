"""Statements come from the cache while no write has happened, else from the reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.pagination import Page, PageRequest
from school_payments.application.ports.cache import CachedStatement, CacheOutcome, StatementKey
from school_payments.application.queries.statements import StatementQueries
from school_payments.application.read_models import (
    RenderedStatement,
    SchoolStatement,
    StudentLine,
    StudentStatement,
)
from school_payments.domain.calendar import latest_today
from school_payments.domain.entities import School, Student
from school_payments.domain.errors import InvalidValueError, NotFoundError
from school_payments.domain.ids import new_id
from tests.support.clock import FixedClock
from tests.unit.builders import a_school, a_student
from tests.unit.fake_readers import FakeRenderer, FakeStatementReader
from tests.unit.fakes import FakeStatementCache


@dataclass
class Statements:
    """The queries with their fakes, and one school with one student whose statement exists."""

    clock: FixedClock = field(default_factory=FixedClock)
    reader: FakeStatementReader = field(default_factory=FakeStatementReader)
    cache: FakeStatementCache = field(default_factory=FakeStatementCache)
    renderer: FakeRenderer = field(default_factory=FakeRenderer)
    school: School = field(default_factory=a_school)
    student: Student = field(init=False)

    def __post_init__(self) -> None:
        self.student = a_student(self.school)
        self.reader.students[self.student.id] = StudentStatement(
            self.student, self.school, date.min, self.clock.now(), [], []
        )

    @property
    def queries(self) -> StatementQueries:
        return StatementQueries(self.reader, self.cache, self.renderer, self.clock)

    async def student_statement(
        self, caller: Caller = OPERATOR, as_of: date | None = None
    ) -> RenderedStatement:
        return await self.queries.student(caller, self.student.id, as_of=as_of)


@pytest.fixture
def statements() -> Statements:
    return Statements()


def school_caller(school: School) -> Caller:
    return Caller(key_id=f"key-of-{school.id}", school_id=school.id)


# -- hits and misses ----------------------------------------------------------------------------


async def test_a_first_statement_is_built_by_the_reader_and_stored_in_its_slot(
    statements: Statements,
) -> None:
    served = await statements.student_statement()
    assert served.cache == CacheOutcome.MISS
    assert statements.reader.calls == 1
    key = StatementKey("student", statements.student.id, "shape=fake;asof=today")
    slot = statements.cache.slot_for(key)
    stored = statements.cache.entries[slot]
    assert stored == CachedStatement(statements.school.id, date(2026, 11, 24), "UTC", served.body)
    assert served.school_id == statements.school.id


async def test_an_entry_written_in_another_document_shape_is_never_served(
    statements: Statements,
) -> None:
    await statements.student_statement()
    statements.renderer = FakeRenderer(shape="next")  # the other side of a rolling deploy
    served = await statements.student_statement()
    assert served.cache == CacheOutcome.MISS
    assert statements.reader.calls == 2


async def test_a_second_statement_is_served_from_the_cache_without_the_reader(
    statements: Statements,
) -> None:
    first = await statements.student_statement()
    statements.clock.advance(seconds=30)
    second = await statements.student_statement()
    assert second.cache == CacheOutcome.HIT
    assert second.body == first.body
    assert statements.reader.calls == 1


async def test_a_write_to_the_student_makes_the_next_statement_a_miss(
    statements: Statements,
) -> None:
    await statements.student_statement()
    await statements.cache.invalidate(students=[statements.student.id])
    assert (await statements.student_statement()).cache == CacheOutcome.MISS
    assert statements.reader.calls == 2


async def test_when_the_cache_cannot_answer_every_statement_is_a_bypass_from_the_reader(
    statements: Statements,
) -> None:
    statements.cache.bypass = True
    for _ in range(2):
        assert (await statements.student_statement()).cache == CacheOutcome.BYPASS
    assert statements.reader.calls == 2
    assert statements.cache.entries == {}


async def test_a_statement_built_while_a_write_committed_is_not_served_after_it(
    statements: Statements,
) -> None:
    statements.reader.during_build.append(
        lambda: statements.cache.invalidate(students=[statements.student.id])
    )
    await statements.student_statement()
    statements.reader.during_build.clear()
    assert (await statements.student_statement()).cache == CacheOutcome.MISS


# -- tenancy ------------------------------------------------------------------------------------


async def test_a_cached_statement_of_another_school_is_reported_missing_to_a_school_key(
    statements: Statements,
) -> None:
    await statements.student_statement()  # cached by the operator
    intruder = school_caller(a_school())
    with pytest.raises(NotFoundError):
        await statements.student_statement(intruder)
    assert statements.reader.calls == 1


async def test_a_school_key_is_served_its_own_cached_statement(statements: Statements) -> None:
    await statements.student_statement()
    served = await statements.student_statement(school_caller(statements.school))
    assert served.cache == CacheOutcome.HIT


# -- "today" moves on ---------------------------------------------------------------------------


async def test_a_statement_for_today_goes_stale_at_the_school_s_midnight() -> None:
    kiritimati = a_school(timezone="Pacific/Kiritimati")  # UTC+14
    statements = Statements(
        clock=FixedClock(datetime(2026, 11, 24, 9, 30, tzinfo=UTC)), school=kiritimati
    )
    first = await statements.student_statement()  # 23:30 on 24 November in Kiritimati
    statements.clock.advance(hours=1)  # 00:30 on the 25th there, still the 24th in UTC
    second = await statements.student_statement()
    assert second.cache == CacheOutcome.MISS
    assert b"as of 2026-11-25" in second.body
    assert b"as of 2026-11-24" in first.body


async def test_a_statement_for_today_is_still_current_before_the_school_s_midnight() -> None:
    pago_pago = a_school(timezone="Pacific/Pago_Pago")  # UTC−11
    statements = Statements(
        clock=FixedClock(datetime(2026, 11, 24, 12, tzinfo=UTC)), school=pago_pago
    )
    await statements.student_statement()  # 01:00 on 24 November there
    statements.clock.advance(hours=22)  # the 25th in UTC, 23:00 on the 24th in Pago Pago
    assert (await statements.student_statement()).cache == CacheOutcome.HIT


async def test_a_statement_as_of_a_past_day_does_not_go_stale_with_the_days(
    statements: Statements,
) -> None:
    await statements.student_statement(as_of=date(2026, 11, 1))
    statements.clock.advance(days=3)
    served = await statements.student_statement(as_of=date(2026, 11, 1))
    assert served.cache == CacheOutcome.HIT


async def test_statements_as_of_different_days_are_cached_apart(statements: Statements) -> None:
    await statements.student_statement(as_of=date(2026, 11, 1))
    served = await statements.student_statement(as_of=date(2026, 11, 2))
    assert served.cache == CacheOutcome.MISS
    assert b"as of 2026-11-02" in served.body


# -- impossible days ----------------------------------------------------------------------------


async def test_a_day_after_today_everywhere_is_refused_before_any_lookup(
    statements: Statements,
) -> None:
    too_late = latest_today(statements.clock.now()) + timedelta(days=1)
    with pytest.raises(InvalidValueError) as refused:
        await statements.queries.student(OPERATOR, new_id(), as_of=too_late)
    assert refused.value.field == "as_of"
    with pytest.raises(InvalidValueError):
        await statements.queries.school(OPERATOR, new_id(), as_of=too_late, page=PageRequest())
    assert statements.cache.lookups == []
    assert statements.reader.calls == 0


async def test_the_latest_today_on_earth_is_left_to_the_school_s_own_calendar(
    statements: Statements,
) -> None:
    latest = latest_today(statements.clock.now())
    served = await statements.student_statement(as_of=latest)
    assert statements.reader.calls == 1
    assert served.cache == CacheOutcome.MISS


async def test_an_unknown_student_is_reported_missing(statements: Statements) -> None:
    with pytest.raises(NotFoundError):
        await statements.queries.student(OPERATOR, new_id(), as_of=None)


# -- school statements --------------------------------------------------------------------------


def given_a_school_statement(statements: Statements, students: int) -> list[Student]:
    school = statements.school
    enrolled = [a_student(school) for _ in range(students)]
    lines = [StudentLine(student, []) for student in enrolled]
    statements.reader.schools[school.id] = SchoolStatement(
        school, date.min, statements.clock.now(), [], Page(lines, None)
    )
    return enrolled


async def test_each_page_of_a_school_statement_is_cached_apart(statements: Statements) -> None:
    enrolled = given_a_school_statement(statements, students=3)
    school_id = statements.school.id
    first_page, second_page = PageRequest(limit=2), PageRequest(limit=2, after=enrolled[1].id)
    first = await statements.queries.school(OPERATOR, school_id, as_of=None, page=first_page)
    second = await statements.queries.school(OPERATOR, school_id, as_of=None, page=second_page)
    assert (first.cache, second.cache) == (CacheOutcome.MISS, CacheOutcome.MISS)
    assert str(enrolled[2].id) in second.body.decode()
    assert str(enrolled[2].id) not in first.body.decode()
    again = await statements.queries.school(OPERATOR, school_id, as_of=None, page=second_page)
    assert (again.cache, again.body) == (CacheOutcome.HIT, second.body)
    assert statements.reader.calls == 2


async def test_a_cached_school_statement_is_hidden_from_another_school_s_key(
    statements: Statements,
) -> None:
    given_a_school_statement(statements, students=1)
    school_id = statements.school.id
    await statements.queries.school(OPERATOR, school_id, as_of=None, page=PageRequest())
    with pytest.raises(NotFoundError):
        await statements.queries.school(
            school_caller(a_school()), school_id, as_of=None, page=PageRequest()
        )
