"""What bounds a statement: its raw SQL on the same database, and the naive way to compute it."""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import BigInteger, Date, ForeignKey, String, Uuid, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from school_payments.adapters.persistence.statement_figures import day_params, figures_query
from school_payments.adapters.persistence.statements import student_statement_queries
from school_payments.adapters.persistence.tables import schools, students
from school_payments.application.pagination import MAX_LINES
from school_payments.domain.calendar import today_in

# SQLAlchemy's `postgresql.dialect` (psycopg2's) has an unannotated constructor.
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _sql(statement: Any, params: dict[str, Any]) -> str:
    bound = statement.params(**params) if params else statement
    return str(bound.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


async def school_statement_sql(url: str, school_id: UUID) -> list[str]:
    """The four statements the service runs for a school statement (first page of 50)."""
    connection = await asyncpg.connect(url)
    try:
        timezone = await connection.fetchval(
            "SELECT timezone FROM schools WHERE id = $1", school_id
        )
        page = await connection.fetch(
            "SELECT id FROM students WHERE school_id = $1 ORDER BY id LIMIT 51", school_id
        )
    finally:
        await connection.close()
    day = today_in(timezone, datetime.now(UTC))
    params = {"owner": school_id, "school": school_id, **day_params(day)}
    return [
        _sql(select(schools).where(schools.c.id == school_id), {}),
        _sql(figures_query("school", ("currency",), False), params),
        _sql(
            select(students)
            .where(students.c.school_id == school_id)
            .order_by(students.c.id)
            .limit(51),
            {},
        ),
        _sql(
            figures_query("students", ("student_id", "currency"), False),
            {**params, "owners": [r["id"] for r in page[:50]]},
        ),
    ]


async def student_statement_sql(url: str, student_id: UUID) -> list[str]:
    """The statements the service runs for today's statement of one student (JSON, first page
    of lines): three, and one each for refunds and credit notes when its invoices have any."""
    connection = await asyncpg.connect(url)
    try:
        school_id, timezone = await connection.fetchrow(
            "SELECT s.id, s.timezone FROM schools s JOIN students t ON t.school_id = s.id"
            " WHERE t.id = $1",
            student_id,
        )
        refunded, credited = await connection.fetchrow(
            "SELECT bool_or(amount_refunded > 0), bool_or(amount_credited > 0) FROM invoices"
            " WHERE student_id = $1",
            student_id,
        )
    finally:
        await connection.close()
    day = today_in(timezone, datetime.now(UTC))
    params = {
        "owner": student_id,
        "school": school_id,
        "lines_limit": MAX_LINES + 1,
        **day_params(day),
    }
    queries = student_statement_queries(refunded=bool(refunded), credited=bool(credited))
    return [_sql(query, params) for query in queries]


async def time_sql(url: str, statements: list[str], *, runs: int = 30) -> dict[str, float]:
    """Client-measured time of the statements in one read-only snapshot, and the server's own
    execution time (EXPLAIN ANALYZE); medians in milliseconds."""
    connection = await asyncpg.connect(url)
    try:
        elapsed, executed = [], []
        for _ in range(runs):
            started = time.perf_counter()
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                for statement in statements:
                    await connection.fetch(statement)
            elapsed.append(time.perf_counter() - started)
            total = 0.0
            for statement in statements:
                plan = await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")
                total += (plan if isinstance(plan, list) else json.loads(plan))[0]["Execution Time"]
            executed.append(total)
    finally:
        await connection.close()
    return {
        "client_p50_ms": round(statistics.median(elapsed) * 1000, 2),
        "server_execution_p50_ms": round(statistics.median(executed), 2),
    }


# -- the naive baseline: ORM objects summed in Python ------------------------------------------


class _Base(DeclarativeBase):
    pass


class _Invoice(_Base):
    __tablename__ = "invoices"
    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    school_id: Mapped[UUID] = mapped_column(Uuid)
    student_id: Mapped[UUID] = mapped_column(Uuid)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    due_date: Mapped[Any] = mapped_column(Date)


class _Payment(_Base):
    __tablename__ = "payments"
    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("invoices.id"))
    school_id: Mapped[UUID] = mapped_column(Uuid)
    amount: Mapped[int] = mapped_column(BigInteger)


def _naive_totals(session: Session, school_id: UUID) -> dict[str, dict[str, int]]:
    invoices = session.scalars(select(_Invoice).where(_Invoice.school_id == school_id)).all()
    paid: dict[UUID, int] = defaultdict(int)
    for payment in session.scalars(select(_Payment).where(_Payment.school_id == school_id)):
        paid[payment.invoice_id] += payment.amount
    today = datetime.now(UTC).date()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for invoice in invoices:
        figures = totals[invoice.currency]
        figures["invoice_count"] += 1
        if invoice.status == "CANCELLED":
            continue
        figures["invoiced"] += invoice.amount
        figures["paid"] += paid[invoice.id]
        if invoice.due_date < today:
            figures["overdue"] += invoice.amount - paid[invoice.id]
    return totals


async def naive_school_totals(url: str, school_id: UUID, *, runs: int = 3) -> float:
    """Loads every invoice and payment of the school as ORM objects and sums them in Python:
    the way a statement should not be computed (median milliseconds)."""
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    times = []
    try:
        async with engine.connect() as connection:
            for _ in range(runs):
                started = time.perf_counter()
                await connection.run_sync(lambda sync: _naive_totals(Session(bind=sync), school_id))
                times.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return round(statistics.median(times) * 1000, 1)
