"""Deferred writes: a command's writes reach PostgreSQL as one statement, and nothing about what
they do changes: a query sees them, a write of the same row waits for the one before, and a
guarded write that touches no row fails the transaction. SQLite runs each at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, event, insert, select, text
from sqlalchemy import update as sql_update

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.repositories import LostUpdateError
from school_payments.adapters.persistence.write_batch import DeferredRead, DeferredWrite
from tests.support.api import Api

_metadata = MetaData()
counters = Table(
    "counters",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
)
other = Table("other", _metadata, Column("id", Integer, primary_key=True))
_ADD = insert(counters)
_BUMP = sql_update(counters).where(counters.c.id == bindparam("b_id"))
_BUMP = _BUMP.values(n=counters.c.n + bindparam("b_by"))


def _add(row_id: int) -> DeferredWrite:
    return DeferredWrite(_ADD, {"id": row_id, "n": 0}, ("counters", row_id))


def _bump(row_id: int, by: int = 1) -> DeferredWrite:
    return DeferredWrite(
        _BUMP,
        {"b_id": row_id, "b_by": by},
        ("counters", row_id),
        lambda: LostUpdateError(f"counter {row_id} is not there"),
    )


@contextmanager
def statements_sent(database: Database) -> Iterator[list[str]]:
    """The SQL of every statement the database is sent meanwhile (BEGIN and COMMIT aside)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        statement = " ".join(str(args[2]).split())
        if not statement.startswith("BEGIN"):
            sent.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    found = Database(DatabaseSettings(url=database_url))
    async with found.transaction() as sql:
        for table in ("counters", "other"):
            await sql.execute(text(f"CREATE TABLE {table} (id integer PRIMARY KEY, n integer)"))
        await sql.commit()
    try:
        yield found
    finally:
        async with found.transaction() as sql:
            await sql.execute(text("DROP TABLE counters"))
            await sql.execute(text("DROP TABLE other"))
            await sql.commit()
        await found.dispose()


async def _counts(database: Database) -> dict[int, int]:
    async with database.snapshot() as sql:
        return {row.id: row.n for row in await sql.rows(select(counters))}


async def test_writes_of_different_rows_go_as_one_statement_on_postgresql(
    database: Database,
) -> None:
    with statements_sent(database) as sent:
        async with database.transaction() as sql:
            for row_id in (1, 2, 3):
                await sql.defer(_add(row_id))
            await sql.commit()
    assert await _counts(database) == {1: 0, 2: 0, 3: 0}
    if database.dialect == "postgresql":
        assert len(sent) == 1
        assert sent[0].startswith("WITH w0 AS (INSERT INTO counters")
    else:
        assert len(sent) == 3  # SQLite runs each write when it is deferred


async def test_a_second_write_of_a_row_goes_after_the_first_and_sees_it(
    database: Database,
) -> None:
    with statements_sent(database) as sent:
        async with database.transaction() as sql:
            await sql.defer(_add(1))
            await sql.defer(_add(2))
            await sql.defer(_bump(1, by=5))  # row 1 is pending: both inserts go out first
            await sql.defer(_bump(2, by=7))  # joins the first bump
            await sql.defer(_bump(1, by=1))  # row 1 is pending again: both bumps go out
            await sql.commit()  # and this one last
    assert await _counts(database) == {1: 6, 2: 7}
    if database.dialect == "postgresql":
        assert len(sent) == 3, sent
        assert sent[2].startswith("UPDATE counters")


async def test_a_query_of_a_written_table_sees_the_deferred_writes_and_others_wait(
    database: Database,
) -> None:
    with statements_sent(database) as sent:
        async with database.transaction() as sql:
            await sql.defer(_add(1))
            await sql.rows(select(other))  # another table: the write may wait
            before = len(sent)
            found = await sql.rows(select(counters))  # this one must see it
            assert [(row.id, row.n) for row in found] == [(1, 0)]
            await sql.commit()
    if database.dialect == "postgresql":
        assert before == 1
        assert sent[1].startswith("INSERT INTO counters")


_OTHERS_ABOVE = select(other.c.id).where(other.c.id > bindparam("above")).order_by(other.c.id)


async def test_a_deferred_read_goes_with_the_writes_and_gets_its_values_after_them(
    database: Database,
) -> None:
    async with database.transaction() as sql:
        for row_id in (3, 1, 2):
            await sql.execute(insert(other).values(id=row_id))
        await sql.commit()
    handed: list[list[Any]] = []

    async def keep(values: list[Any]) -> None:
        # Handed on once the writes are made: what it does next sees them.
        handed.append(values)
        assert [row.id for row in await sql.rows(select(counters))] == [1]

    with statements_sent(database) as sent:
        async with database.transaction() as sql:
            await sql.defer(_add(1))
            await sql.defer_read(DeferredRead(_OTHERS_ABOVE, {"above": 1}, keep))
            assert handed == ([] if database.dialect == "postgresql" else [[2, 3]])
            await sql.commit()
    assert handed == [[2, 3]]
    if database.dialect == "postgresql":
        assert len(sent) == 2, sent  # the batch, then `keep`'s own query
        assert sent[0].startswith("WITH w0 AS (INSERT INTO counters")
        assert "ARRAY(SELECT other.id FROM other" in sent[0]


async def test_a_deferred_read_of_a_written_table_sees_the_writes_before_it(
    database: Database,
) -> None:
    handed: list[list[Any]] = []

    async def keep(values: list[Any]) -> None:
        handed.append(values)

    counted = select(counters.c.id).where(counters.c.id > bindparam("above"))
    async with database.transaction() as sql:
        await sql.defer(_add(1))
        await sql.defer(_add(2))
        await sql.defer_read(DeferredRead(counted.order_by(counters.c.id), {"above": 0}, keep))
        await sql.defer(_add(3))  # asked after the read: not in what it reads
        await sql.commit()
    assert handed == [[1, 2]]
    assert await _counts(database) == {1: 0, 2: 0, 3: 0}


async def test_any_other_write_goes_after_the_deferred_ones(database: Database) -> None:
    async with database.transaction() as sql:
        await sql.defer(_add(1))
        await sql.execute(sql_update(counters).where(counters.c.id == 1).values(n=40))
        await sql.commit()
    assert await _counts(database) == {1: 40}


async def test_a_guarded_write_that_touches_no_row_fails_and_nothing_is_kept(
    database: Database,
) -> None:
    async def add_one_and_bump_a_missing_one() -> None:
        async with database.transaction() as sql:
            await sql.defer(_add(1))
            await sql.defer(_bump(9))  # SQLite raises here, PostgreSQL at the commit
            await sql.commit()

    with pytest.raises(LostUpdateError, match="counter 9 is not there"):
        await add_one_and_bump_a_missing_one()
    assert await _counts(database) == {}


async def test_a_payment_writes_once_and_its_idempotency_record_rides_along(
    pg_api: Api,
) -> None:
    school = await pg_api.school()
    student = await pg_api.student(school["id"])
    invoice = await pg_api.invoice(student["id"], amount=20_000)
    database = pg_api.assembly.database
    with statements_sent(database) as sent:
        await pg_api.payment(invoice["id"], amount=5_000)
    writes = [sql for sql in sent if not sql.startswith("SELECT")]
    assert len(writes) == 1, sent
    assert all(part in writes[0] for part in ("INSERT INTO payments", "UPDATE invoices"))
    assert "INSERT INTO events" in writes[0]
    # The event's webhook endpoints are read in the same statement (the school has none): the
    # payment is its invoice's row lock, then this one statement.
    assert "ARRAY(SELECT webhook_endpoints.id" in writes[0]
    assert len(sent) == 2, sent

    with statements_sent(database) as sent:
        response = await pg_api.post(
            f"/api/v1/invoices/{invoice['id']}/payments",
            json={"amount": 15_000, "method": "cash"},
            headers={"Idempotency-Key": "batch-1"},
        )
    assert response.status_code == 201, response.text
    writes = [sql for sql in sent if not sql.startswith("SELECT")]
    # The claim commits on its own first (a duplicate must see it at once); the completion
    # goes with the payment, the invoice now PAID, its balance row and both events.
    assert len(writes) == 2, sent
    assert writes[0].startswith("INSERT INTO idempotency_keys")
    assert all(
        part in writes[1]
        for part in ("INSERT INTO payments", "UPDATE invoices", "UPDATE student_balances")
    )
    assert "UPDATE idempotency_keys" in writes[1]
    replay = await pg_api.post(
        f"/api/v1/invoices/{invoice['id']}/payments",
        json={"amount": 15_000, "method": "cash"},
        headers={"Idempotency-Key": "batch-1"},
    )
    assert replay.json() == response.json()
    statement = await pg_api.get(f"/api/v1/students/{student['id']}/statement")
    assert statement.status_code == 200
    assert statement.json()["invoices"][0]["status"] == "PAID"


async def test_a_refund_and_a_credit_note_each_write_once(pg_api: Api) -> None:
    school = await pg_api.school()
    student = await pg_api.student(school["id"])
    invoice = await pg_api.invoice(student["id"], amount=20_000)
    payment = await pg_api.payment(invoice["id"], amount=20_000)
    database = pg_api.assembly.database
    with statements_sent(database) as sent:
        await pg_api.refund(payment["id"], amount=5_000, reason="Overcharged")
    writes = [sql for sql in sent if not sql.startswith("SELECT")]
    assert len(writes) == 1, sent
    # The refund, the payment's refunded figure, the invoice reopened, its balance row taken
    # out, and the events: one statement.
    for part in ("INSERT INTO refunds", "UPDATE payments", "UPDATE invoices", "student_balances"):
        assert part in writes[0], part
    with statements_sent(database) as sent:
        await pg_api.credit_note(invoice["id"], amount=5_000)
    writes = [sql for sql in sent if not sql.startswith("SELECT")]
    assert len(writes) == 1, sent
    assert "INSERT INTO credit_notes" in writes[0]
    assert "UPDATE invoices" in writes[0]
    found = await pg_api.get(f"/api/v1/invoices/{invoice['id']}")
    assert found.json()["status"] == "PAID"
