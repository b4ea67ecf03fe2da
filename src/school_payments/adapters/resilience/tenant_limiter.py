"""The per-school limit on concurrent expensive work, in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from school_payments.application.errors import TenantBusyError


class InProcessTenantLimiter:
    """Counts each school's expensive jobs in progress in this process (one event loop: no lock).

    Per process on purpose: each worker protects its own event loop and its own connection
    pool, and needs no round trip to share counts. With N workers a school may run N × limit.
    """

    def __init__(self, limit: int, retry_after_seconds: int = 1) -> None:
        self.limit = limit
        self._retry_after = retry_after_seconds
        self._running: dict[UUID, int] = {}

    def running(self, school_id: UUID) -> int:
        return self._running.get(school_id, 0)

    @asynccontextmanager
    async def slot(self, school_id: UUID) -> AsyncIterator[None]:
        running = self._running.get(school_id, 0)
        if running >= self.limit:
            raise TenantBusyError(self.limit, self._retry_after)
        self._running[school_id] = running + 1
        try:
            yield
        finally:
            left = self._running[school_id] - 1
            if left:
                self._running[school_id] = left
            else:
                del self._running[school_id]
