"""The SQL unit of work: one transaction, rolled back unless `commit()` is called."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

from school_payments.adapters.persistence.database import Database, SqlConnection, is_unavailable
from school_payments.adapters.persistence.events import SqlEventRecorder
from school_payments.adapters.persistence.idempotency_records import SqlIdempotencyRecorder
from school_payments.adapters.persistence.reminders import SqlReminderRepository
from school_payments.adapters.persistence.repositories import (
    SqlApiKeyRepository,
    SqlCreditRepository,
    SqlInvoiceRepository,
    SqlSchoolRepository,
    SqlStudentRepository,
)
from school_payments.adapters.persistence.webhooks import SqlWebhookEndpointRepository
from school_payments.application.caller import Scope
from school_payments.application.errors import DatabaseUnavailableError
from school_payments.application.ports.clock import Clock


class SqlUnitOfWork:
    def __init__(self, database: Database, scope: Scope, clock: Clock) -> None:
        self._database = database
        self._scope = scope
        self._clock = clock
        self._transaction: AbstractAsyncContextManager[SqlConnection] | None = None
        self._sql: SqlConnection | None = None

    async def __aenter__(self) -> Self:
        self._transaction = self._database.transaction()
        sql = self._sql = await self._transaction.__aenter__()
        self.schools = SqlSchoolRepository(sql, self._scope)
        self.students = SqlStudentRepository(sql, self._scope)
        self.invoices = SqlInvoiceRepository(sql, self._scope)
        self.credit = SqlCreditRepository(sql)
        self.api_keys = SqlApiKeyRepository(sql, self._scope)
        self.idempotency = SqlIdempotencyRecorder(sql, self._clock)
        self.events = SqlEventRecorder(sql, self._scope, self._clock)
        self.webhooks = SqlWebhookEndpointRepository(sql, self._scope)
        self.reminders = SqlReminderRepository(sql)
        return self

    async def commit(self) -> None:
        assert self._sql is not None, "commit() outside `async with`"
        try:
            await self._sql.commit()
        except Exception as error:
            if not is_unavailable(error):
                raise
            # The outcome of a commit whose connection failed is unknown; callers rely on
            # idempotency records (written in this transaction) to make a retry safe.
            raise DatabaseUnavailableError() from error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._transaction is not None
        # Closing the connection rolls back whatever was not committed.
        await self._transaction.__aexit__(exc_type, exc, tb)


class SqlUnitOfWorkFactory:
    """Opens units of work on one database, scoped to the caller's school."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def __call__(self, scope: Scope) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._database, scope, self._clock)
