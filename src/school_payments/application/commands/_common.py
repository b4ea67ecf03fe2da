"""What command handlers share: their ports, and committing with the idempotent response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from school_payments.application.errors import DatabaseUnavailableError
from school_payments.application.idempotency import Idempotent
from school_payments.application.ports.cache import StatementCache
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

R = TypeVar("R")


async def commit(
    uow: UnitOfWork,
    result: R,
    idempotent: Idempotent[R] | None,
    *,
    if_unknown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Commits the work together with the idempotent response: both are kept, or neither.

    When the connection fails during the COMMIT, the work may be in or not: `if_unknown` runs
    before the error goes on, so that what must follow a commit (moving cached statements on)
    also follows one that nobody heard of. A retry then replays the response, and reads the
    statements fresh.
    """
    if idempotent is not None:
        await uow.idempotency.complete(idempotent.claim, idempotent.respond(result))
    try:
        await uow.commit()
    except DatabaseUnavailableError:
        if if_unknown is not None:
            await if_unknown()
        raise


class WriteHandler:
    """A handler that changes data in one unit of work, then moves the changed statements on."""

    def __init__(self, uow: UnitOfWorkFactory, cache: StatementCache, clock: Clock) -> None:
        self._uow = uow
        self._cache = cache
        self._clock = clock
