"""The fakes keep the unit of work's promise, or the handler tests built on them prove nothing."""

from __future__ import annotations

import pytest

from school_payments.application.caller import EVERY_SCHOOL, Scope
from school_payments.domain.errors import NotFoundError
from tests.unit.builders import a_school, a_student
from tests.unit.fakes import FakeDatabase


async def test_changes_become_visible_only_when_committed() -> None:
    db = FakeDatabase()
    school = a_school()
    async with db.unit_of_work(EVERY_SCHOOL) as uow:
        await uow.schools.add(school)
        assert school.id not in db.committed.schools
        await uow.commit()
    assert school.id in db.committed.schools


async def test_leaving_the_block_without_commit_discards_the_changes() -> None:
    db = FakeDatabase()
    async with db.unit_of_work(EVERY_SCHOOL) as uow:
        await uow.schools.add(a_school())
    assert db.committed.schools == {}
    assert db.commits == 0


async def test_an_error_inside_the_block_discards_the_changes() -> None:
    db = FakeDatabase()

    async def failing_work() -> None:
        async with db.unit_of_work(EVERY_SCHOOL) as uow:
            await uow.schools.add(a_school())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing_work()
    assert db.committed.schools == {}


async def test_changing_a_loaded_object_without_saving_it_changes_nothing() -> None:
    db = FakeDatabase()
    school = a_school(name="Before")
    db.given(school)
    async with db.unit_of_work(EVERY_SCHOOL) as uow:
        loaded = await uow.schools.get(school.id)
        loaded.name = "After"
        await uow.commit()
    assert db.committed.schools[school.id].name == "Before"


async def test_another_school_s_student_is_reported_missing() -> None:
    db = FakeDatabase()
    student = a_student()
    db.given(student)
    async with db.unit_of_work(Scope(a_school().id)) as uow:
        with pytest.raises(NotFoundError):
            await uow.students.get(student.id)


async def test_the_unit_of_work_cannot_be_used_outside_its_block() -> None:
    db = FakeDatabase()
    uow = db.unit_of_work(EVERY_SCHOOL)
    with pytest.raises(RuntimeError):
        await uow.schools.add(a_school())
