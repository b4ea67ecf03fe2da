"""A database that does not answer in time is "unavailable" (503), never a bug (500)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.application.errors import DatabaseUnavailableError


async def test_a_statement_past_its_timeout_is_reported_as_unavailable(pg_url: str) -> None:
    database = Database(DatabaseSettings(url=pg_url, statement_timeout_ms=50))
    try:
        async with database.snapshot() as q:
            with pytest.raises(DatabaseUnavailableError):
                await q.execute(text("SELECT pg_sleep(2)"))
        # The connection is still usable afterwards.
        assert await database.ping()
    finally:
        await database.dispose()
