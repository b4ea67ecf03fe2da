"""Schools and students, over in-memory fakes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.commands.schools import (
    CreateSchool,
    CreateSchoolHandler,
    DeleteSchool,
    DeleteSchoolHandler,
    UpdateSchool,
    UpdateSchoolHandler,
)
from school_payments.application.commands.students import (
    EnrollStudent,
    EnrollStudentHandler,
    Removal,
    RemoveStudent,
    RemoveStudentHandler,
    UpdateStudent,
    UpdateStudentHandler,
)
from school_payments.application.errors import DatabaseUnavailableError, ForbiddenError
from school_payments.domain.currency import Currency
from school_payments.domain.entities import School, StudentStatus
from school_payments.domain.errors import (
    DuplicateExternalIdError,
    NotFoundError,
    SchoolHasStudentsError,
    UnknownCurrencyError,
    UnknownTimezoneError,
)
from tests.support.clock import FixedClock
from tests.unit.builders import NOW, a_school, a_student, an_invoice
from tests.unit.fakes import FakeDatabase, FakeStatementCache


def school_caller(school: School) -> Caller:
    return Caller(key_id=f"key-of-{school.id}", school_id=school.id)


def given_a_school(db: FakeDatabase, **fields: Any) -> School:
    school = a_school(**fields)
    db.given(school)
    return school


# -- schools ------------------------------------------------------------------------------------


async def test_the_operator_creates_a_school_with_its_time_zone_and_currency(
    db: FakeDatabase, clock: FixedClock
) -> None:
    handler = CreateSchoolHandler(db.unit_of_work, clock)
    command = CreateSchool("Colegio", timezone="America/Santiago", default_currency="CLP")
    school = await handler(command, OPERATOR)
    stored = db.committed.schools[school.id]
    assert (stored.timezone, stored.default_currency) == ("America/Santiago", Currency.of("CLP"))
    assert stored.created_at == stored.updated_at == NOW


async def test_a_school_key_may_not_create_a_school(db: FakeDatabase, clock: FixedClock) -> None:
    handler = CreateSchoolHandler(db.unit_of_work, clock)
    with pytest.raises(ForbiddenError):
        await handler(CreateSchool("Colegio"), school_caller(given_a_school(db)))
    assert len(db.committed.schools) == 1


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (CreateSchool("C", timezone="Mars/Base"), UnknownTimezoneError),
        (CreateSchool("C", default_currency="XYZ"), UnknownCurrencyError),
    ],
)
async def test_a_school_with_an_unknown_zone_or_currency_is_refused(
    command: CreateSchool, error: type[Exception], db: FakeDatabase, clock: FixedClock
) -> None:
    with pytest.raises(error):
        await CreateSchoolHandler(db.unit_of_work, clock)(command, OPERATOR)
    assert db.committed.schools == {}


async def test_a_school_key_may_update_its_own_school_and_every_statement_is_invalidated(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    school = given_a_school(db)
    students = [a_student(school), a_student(school)]
    db.given(*students, a_student())
    clock.advance(minutes=5)
    handler = UpdateSchoolHandler(db.unit_of_work, cache, clock)
    command = UpdateSchool(school.id, timezone="Asia/Tokyo", default_currency=None)
    await handler(command, school_caller(school))
    stored = db.committed.schools[school.id]
    assert (stored.name, stored.timezone, stored.default_currency) == (
        school.name,
        "Asia/Tokyo",
        None,
    )
    assert stored.updated_at == NOW + timedelta(minutes=5)
    [invalidation] = cache.invalidations
    assert invalidation.schools == {school.id}
    assert invalidation.students == {s.id for s in students}
    assert invalidation.commits_before == db.commits == 1


async def test_a_school_key_cannot_update_another_school(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    other = given_a_school(db, name="Other")
    handler = UpdateSchoolHandler(db.unit_of_work, cache, clock)
    with pytest.raises(NotFoundError):
        await handler(UpdateSchool(other.id, name="Mine"), school_caller(given_a_school(db)))
    assert db.committed.schools[other.id].name == "Other"


async def test_a_school_key_may_not_delete_even_its_own_school(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    school = given_a_school(db)
    with pytest.raises(ForbiddenError):
        await DeleteSchoolHandler(db.unit_of_work, cache, clock)(
            DeleteSchool(school.id), school_caller(school)
        )
    assert school.id in db.committed.schools


async def test_a_school_with_students_cannot_be_deleted(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    school = given_a_school(db)
    db.given(a_student(school))
    with pytest.raises(SchoolHasStudentsError):
        await DeleteSchoolHandler(db.unit_of_work, cache, clock)(DeleteSchool(school.id), OPERATOR)
    assert school.id in db.committed.schools


async def test_a_school_without_students_is_deleted(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    school = given_a_school(db)
    await DeleteSchoolHandler(db.unit_of_work, cache, clock)(DeleteSchool(school.id), OPERATOR)
    assert school.id not in db.committed.schools
    assert cache.invalidations[0].schools == {school.id}


# -- students -----------------------------------------------------------------------------------


async def test_enrolling_a_student_stores_an_active_student_and_invalidates_the_school(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    school = given_a_school(db)
    handler = EnrollStudentHandler(db.unit_of_work, cache, clock)
    student = await handler(EnrollStudent(school.id, "Ana", "García", "A-1"), OPERATOR)
    assert db.committed.students[student.id].status is StudentStatus.ACTIVE
    assert cache.invalidations[0].schools == {school.id}


async def test_an_external_id_is_unique_within_a_school_only(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    school, other = given_a_school(db), given_a_school(db)
    db.given(a_student(school, external_id="A-1"))
    handler = EnrollStudentHandler(db.unit_of_work, cache, clock)
    with pytest.raises(DuplicateExternalIdError):
        await handler(EnrollStudent(school.id, "Bea", "Ruiz", "A-1"), OPERATOR)
    await handler(EnrollStudent(other.id, "Bea", "Ruiz", "A-1"), OPERATOR)
    assert len(db.committed.students) == 2


async def test_a_school_key_cannot_enroll_a_student_in_another_school(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    other = given_a_school(db)
    handler = EnrollStudentHandler(db.unit_of_work, cache, clock)
    with pytest.raises(NotFoundError):
        await handler(EnrollStudent(other.id, "Ana", "G"), school_caller(given_a_school(db)))
    assert db.committed.students == {}


async def test_updating_a_student_can_clear_the_external_id(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    student = a_student(given_a_school(db), external_id="A-1")
    db.given(student)
    handler = UpdateStudentHandler(db.unit_of_work, cache, clock)
    await handler(UpdateStudent(student.id, first_name="Anita", external_id=None), OPERATOR)
    stored = db.committed.students[student.id]
    assert (stored.first_name, stored.last_name, stored.external_id) == ("Anita", "García", None)


async def test_statements_move_on_even_when_a_commit_s_outcome_is_unknown(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    student = a_student(given_a_school(db))
    db.given(student)
    db.commit_outcome_lost = True  # the change lands; the client only sees the connection fail
    handler = UpdateStudentHandler(db.unit_of_work, cache, clock)
    with pytest.raises(DatabaseUnavailableError):
        await handler(UpdateStudent(student.id, first_name="Anita"), OPERATOR)
    assert db.committed.students[student.id].first_name == "Anita"
    assert cache.invalidations[0].students == {student.id}
    assert cache.invalidations[0].schools == {student.school_id}


async def test_removing_a_student_without_invoices_deletes_them(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    student = a_student(given_a_school(db))
    db.given(student)
    handler = RemoveStudentHandler(db.unit_of_work, cache, clock)
    assert await handler(RemoveStudent(student.id), OPERATOR) is Removal.DELETED
    assert student.id not in db.committed.students
    assert cache.invalidations[0].students == {student.id}


async def test_removing_a_student_with_invoices_archives_them_and_keeps_the_invoices(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    student = a_student(given_a_school(db))
    invoice = an_invoice(student)
    db.given(student, invoice)
    clock.advance(days=1)
    handler = RemoveStudentHandler(db.unit_of_work, cache, clock)
    assert await handler(RemoveStudent(student.id), OPERATOR) is Removal.ARCHIVED
    stored = db.committed.students[student.id]
    assert stored.status is StudentStatus.ARCHIVED
    assert stored.archived_at == NOW + timedelta(days=1)
    assert invoice.id in db.committed.invoices
    assert cache.invalidations[0].commits_before == db.commits


async def test_a_school_key_cannot_remove_another_school_s_student(
    db: FakeDatabase, cache: FakeStatementCache, clock: FixedClock
) -> None:
    student = a_student(given_a_school(db))
    db.given(student)
    handler = RemoveStudentHandler(db.unit_of_work, cache, clock)
    with pytest.raises(NotFoundError):
        await handler(RemoveStudent(student.id), school_caller(given_a_school(db)))
    assert student.id in db.committed.students
    assert cache.invalidations == []
