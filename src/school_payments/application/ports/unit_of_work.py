from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from school_payments.application.caller import Scope
from school_payments.application.ports.idempotency_store import IdempotencyRecorder
from school_payments.application.ports.repositories import (
    ApiKeyRepository,
    CreditRepository,
    InvoiceRepository,
    SchoolRepository,
    StudentRepository,
)


class UnitOfWork(Protocol):
    """One transaction: what its repositories stage is kept by `commit()`, else rolled back."""

    @property
    def schools(self) -> SchoolRepository: ...

    @property
    def students(self) -> StudentRepository: ...

    @property
    def invoices(self) -> InvoiceRepository: ...

    @property
    def credit(self) -> CreditRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def idempotency(self) -> IdempotencyRecorder: ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work whose repositories see only `scope`'s schools."""

    def __call__(self, scope: Scope) -> UnitOfWork: ...
