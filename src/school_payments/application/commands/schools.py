"""Creating, changing and deleting schools."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands._common import WriteHandler, commit
from school_payments.application.commands.unset import UNSET, Unset
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.idempotency_store import IdempotencyClaim
from school_payments.application.ports.unit_of_work import UnitOfWorkFactory
from school_payments.domain.calendar import validate_timezone
from school_payments.domain.currency import Currency
from school_payments.domain.entities import School
from school_payments.domain.errors import SchoolHasStudentsError
from school_payments.domain.ids import new_id


@dataclass(frozen=True, slots=True)
class CreateSchool:
    name: str
    timezone: str = "UTC"
    default_currency: str | None = None
    reminder_days_before_due: int | None = 3


@dataclass(frozen=True, slots=True)
class UpdateSchool:
    school_id: UUID
    name: str | Unset = UNSET
    timezone: str | Unset = UNSET
    default_currency: str | Unset | None = UNSET
    reminder_days_before_due: int | Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class DeleteSchool:
    school_id: UUID


def _currency(code: str | None) -> Currency | None:
    return None if code is None else Currency.of(code)


class CreateSchoolHandler:
    """Creates a school (operator only) with an IANA time zone and optional default currency."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, command: CreateSchool, caller: Caller, claim: IdempotencyClaim | None = None
    ) -> School:
        caller.ensure_operator()
        now = self._clock.now()
        school = School(
            id=new_id(),
            name=command.name,
            timezone=validate_timezone(command.timezone),
            default_currency=_currency(command.default_currency),
            created_at=now,
            updated_at=now,
            reminder_days_before_due=command.reminder_days_before_due,
        )
        async with self._uow(caller.scope) as uow:
            await uow.schools.add(school)
            await commit(uow, school, claim)
        return school


class UpdateSchoolHandler(WriteHandler):
    """Changes a school's name, time zone or default currency; its statements are invalidated."""

    async def __call__(self, command: UpdateSchool, caller: Caller) -> School:
        timezone = command.timezone
        if not isinstance(timezone, Unset):
            validate_timezone(timezone)
        currency = command.default_currency
        new_currency = UNSET if isinstance(currency, Unset) else _currency(currency)
        async with self._uow(caller.scope) as uow:
            school = await uow.schools.get(command.school_id, for_update=True)
            if not isinstance(command.name, Unset):
                school.name = command.name
            if not isinstance(timezone, Unset):
                school.timezone = timezone
            if not isinstance(new_currency, Unset):
                school.default_currency = new_currency
            if not isinstance(command.reminder_days_before_due, Unset):
                school.reminder_days_before_due = command.reminder_days_before_due
            school.updated_at = self._clock.now()
            await uow.schools.update(school)
            # Every student statement shows the school's name and is judged in its time zone.
            student_ids = await uow.students.ids_in_school(school.id)
            await self._commit(uow, school, schools=[school.id], students=student_ids)
        return school


class DeleteSchoolHandler(WriteHandler):
    """Deletes a school that has no students (operator only); otherwise SchoolHasStudentsError."""

    async def __call__(self, command: DeleteSchool, caller: Caller) -> None:
        caller.ensure_operator()
        async with self._uow(caller.scope) as uow:
            # The lock makes a concurrent enrolment wait, then see the school gone (404).
            await uow.schools.get(command.school_id, for_update=True)
            if await uow.schools.has_students(command.school_id):
                raise SchoolHasStudentsError()
            await uow.schools.delete(command.school_id)
            await self._commit(uow, None, schools=[command.school_id])
