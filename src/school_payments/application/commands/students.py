"""Enrolling, changing and removing students."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands._common import WriteHandler
from school_payments.application.commands.unset import UNSET, Unset
from school_payments.application.ports.idempotency_store import IdempotencyClaim
from school_payments.domain.entities import Student, StudentStatus
from school_payments.domain.ids import new_id


@dataclass(frozen=True, slots=True)
class EnrollStudent:
    school_id: UUID
    first_name: str
    last_name: str
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateStudent:
    student_id: UUID
    first_name: str | Unset = UNSET
    last_name: str | Unset = UNSET
    external_id: str | Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class RemoveStudent:
    student_id: UUID


class Removal(StrEnum):
    DELETED = "deleted"
    """The student had no invoices and is gone for good."""
    ARCHIVED = "archived"
    """The student had invoices: kept, with their statement, but no new invoices."""


class EnrollStudentHandler(WriteHandler):
    """Adds a student to a school; an external id is unique within the school."""

    async def __call__(
        self, command: EnrollStudent, caller: Caller, claim: IdempotencyClaim | None = None
    ) -> Student:
        now = self._clock.now()
        student = Student(
            id=new_id(),
            school_id=command.school_id,
            first_name=command.first_name,
            last_name=command.last_name,
            external_id=command.external_id,
            status=StudentStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        async with self._uow(caller.scope) as uow:
            # Locked so that a concurrent deletion of the school cannot miss this student.
            await uow.schools.get(command.school_id, for_update=True)
            await uow.students.add(student)
            await self._commit(uow, student, claim, schools=[student.school_id])
        return student


class UpdateStudentHandler(WriteHandler):
    """Changes a student's names or external id (archived students included)."""

    async def __call__(self, command: UpdateStudent, caller: Caller) -> Student:
        async with self._uow(caller.scope) as uow:
            student = await uow.students.get(command.student_id, for_update=True)
            if not isinstance(command.first_name, Unset):
                student.first_name = command.first_name
            if not isinstance(command.last_name, Unset):
                student.last_name = command.last_name
            if not isinstance(command.external_id, Unset):
                student.external_id = command.external_id
            student.updated_at = self._clock.now()
            await uow.students.update(student)
            await self._commit(uow, student, schools=[student.school_id], students=[student.id])
        return student


class RemoveStudentHandler(WriteHandler):
    """Deletes a student without invoices; archives one with any (history is never lost)."""

    async def __call__(self, command: RemoveStudent, caller: Caller) -> Removal:
        async with self._uow(caller.scope) as uow:
            # Locked so that an invoice issued concurrently either lands first (and we archive)
            # or finds the student gone.
            student = await uow.students.get(command.student_id, for_update=True)
            if await uow.students.has_billing_history(student.id):
                student.archive(self._clock.now())
                await uow.students.update(student)
                outcome = Removal.ARCHIVED
            else:
                await uow.students.delete(student.id)
                outcome = Removal.DELETED
            await self._commit(uow, outcome, schools=[student.school_id], students=[student.id])
        return outcome
