"""How deferred writes become one statement: placeholders renumbered, values in their order."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg
from sqlalchemy.dialects.sqlite import dialect as sqlite
from sqlalchemy.engine import Dialect

from school_payments.adapters.persistence.write_batch import (
    BatchCompiler,
    DeferredRead,
    DeferredWrite,
)

things = Table(
    "things",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("n", Integer),
)
_ADD = insert(things)
_GROW = update(things).where(things.c.id == bindparam("b_id")).values(n=things.c.n + 1)


def asyncpg_dialect() -> Dialect:
    found: Dialect = asyncpg()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped
    return found


def test_writes_become_ctes_whose_placeholders_follow_each_other() -> None:
    compiler = BatchCompiler(asyncpg_dialect())
    sql, arguments = compiler.statement(
        [
            DeferredWrite(_ADD, {"id": 1, "name": "a"}, ("things", 1)),
            DeferredWrite(_GROW, {"b_id": 2}, ("things", 2)),
        ]
    )
    assert sql == (
        "WITH w0 AS (INSERT INTO things (id, name) VALUES ($1::INTEGER, $2::VARCHAR) RETURNING 1),"
        " w1 AS (UPDATE things SET n=(things.n + $3::INTEGER) WHERE things.id = $4::INTEGER"
        " RETURNING 1) SELECT (SELECT count(*) FROM w0), (SELECT count(*) FROM w1)"
    )
    assert arguments == [1, "a", 1, 2]  # the template's own 1 is passed as an argument too


async def _ignore(_values: list[object]) -> None:
    return None


def test_a_read_rides_along_as_an_array_after_the_counts() -> None:
    compiler = BatchCompiler(asyncpg_dialect())
    above = select(things.c.name).where(things.c.id > bindparam("above")).order_by(things.c.id)
    sql, arguments = compiler.statement(
        [DeferredWrite(_GROW, {"b_id": 2}, ("things", 2))],
        [DeferredRead(above, {"above": 7}, _ignore)],
    )
    assert " ".join(sql.split()) == (
        "WITH w0 AS (UPDATE things SET n=(things.n + $1::INTEGER) WHERE things.id = $2::INTEGER"
        " RETURNING 1) SELECT (SELECT count(*) FROM w0), ARRAY(SELECT things.name"
        " FROM things WHERE things.id > $3::INTEGER ORDER BY things.id)"
    )
    assert arguments == [1, 2, 7]
    alone, arguments = compiler.statement([], [DeferredRead(above, {"above": 1}, _ignore)])
    assert alone.startswith("SELECT ARRAY(SELECT things.name")
    assert arguments == [1]


def test_the_same_shape_is_compiled_once() -> None:
    compiler = BatchCompiler(asyncpg_dialect())
    writes = [DeferredWrite(_ADD, {"id": i, "name": "x"}, ("things", i)) for i in (1, 2)]
    first, _ = compiler.statement(writes)
    again, arguments = compiler.statement(
        [DeferredWrite(_ADD, {"id": i, "name": "y"}, ("things", i)) for i in (3, 4)]
    )
    assert again is first
    assert arguments == [3, "y", 4, "y"]


def test_a_statement_that_returns_rows_is_not_batched() -> None:
    compiler = BatchCompiler(asyncpg_dialect())
    with pytest.raises(ValueError, match="cannot batch"):
        compiler.statement(
            [DeferredWrite(_ADD.returning(things.c.id), {"id": 1}, ("things", 1))] * 2
        )


def test_only_dollar_placeholders_are_combined() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        BatchCompiler(sqlite())
