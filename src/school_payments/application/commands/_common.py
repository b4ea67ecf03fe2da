"""What command handlers share: their ports, and committing with the idempotency record."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from school_payments.application.errors import DatabaseUnavailableError
from school_payments.application.ports.cache import StatementCache
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.idempotency_store import Created, IdempotencyClaim
from school_payments.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from school_payments.domain.money import Money


def money_log(amount: Money) -> dict[str, object]:
    """Log fields of an amount: the machine figure, and how a person reads it."""
    return {
        "amount": amount.amount,
        "currency": amount.currency.code,
        "amount_formatted": amount.formatted(),
    }


async def commit(uow: UnitOfWork, result: object, claim: IdempotencyClaim | None) -> None:
    """Commits the work together with its idempotency record: both are kept, or neither."""
    if claim is not None:
        await uow.idempotency.complete(claim, Created(result))
    await uow.commit()


class WriteHandler:
    """A handler that changes data in one unit of work, then moves the changed statements on."""

    def __init__(self, uow: UnitOfWorkFactory, cache: StatementCache, clock: Clock) -> None:
        self._uow = uow
        self._cache = cache
        self._clock = clock

    async def _commit(
        self,
        uow: UnitOfWork,
        result: object,
        claim: IdempotencyClaim | None = None,
        *,
        schools: Iterable[UUID] = (),
        students: Iterable[UUID] = (),
    ) -> None:
        """Commits, then moves the statements of the changed schools and students on.

        Also when the connection fails during the COMMIT: the work may have landed, and a retry
        that replays its outcome must not meet an older cached statement. (The versions move on
        before the connection goes back to the pool: one Redis call, bounded by its timeout and
        skipped while the breaker is open.)
        """
        try:
            await commit(uow, result, claim)
        except DatabaseUnavailableError:
            await self._cache.invalidate(schools=schools, students=students)
            raise
        await self._cache.invalidate(schools=schools, students=students)
