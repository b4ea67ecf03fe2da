"""Committing a command together with the response its idempotent retries replay."""

from __future__ import annotations

from typing import TypeVar

from school_payments.application.idempotency import Idempotent
from school_payments.application.ports.unit_of_work import UnitOfWork

R = TypeVar("R")


async def commit(uow: UnitOfWork, result: R, idempotent: Idempotent[R] | None) -> None:
    """Commits the work together with the idempotent response: both are kept, or neither."""
    if idempotent is not None:
        await uow.idempotency.complete(idempotent.claim, idempotent.respond(result))
    await uow.commit()
