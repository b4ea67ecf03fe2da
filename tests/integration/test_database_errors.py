"""A query that runs past the statement timeout is a `query_timeout` (503), never a bug (500),
and not the database being down either."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.application.errors import QueryTimeoutError
from tests.support.api import running_api, settings_for
from tests.support.clock import FixedClock


async def test_a_statement_past_its_timeout_is_reported_as_a_query_timeout(pg_url: str) -> None:
    database = Database(DatabaseSettings(url=pg_url, statement_timeout_ms=50))
    try:
        async with database.snapshot() as q:
            with pytest.raises(QueryTimeoutError):
                await q.execute(text("SELECT pg_sleep(2)"))
        # The connection is still usable afterwards.
        assert await database.ping()
    finally:
        await database.dispose()


async def test_a_statement_past_its_timeout_answers_503_query_timeout_with_retry_after(
    pg_url: str, clock: FixedClock
) -> None:
    settings = settings_for(pg_url, database_statement_timeout_ms=200)
    locker = Database(DatabaseSettings(url=pg_url))
    async with running_api(settings, clock) as api:
        school = await api.school()
        student = await api.student(school["id"])
        await api.invoice(student["id"])
        try:
            # Another transaction holds the invoices table: the statement's query waits for it
            # until the statement timeout cancels it.
            async with locker.transaction() as sql:
                await sql.execute(text("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE"))
                response = await api.get(f"/api/v1/students/{student['id']}/statement")
        finally:
            await locker.dispose()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "query_timeout"
    assert response.headers["Retry-After"]
