"""EXPLAIN (ANALYZE, BUFFERS) of the statement queries on the benchmark database.

    .venv/bin/python -m benchmarks.explain [database URL]

Prints the plans of the school statement's totals (today and as of a past day) and of a page of
students' figures, compiled from the same SQLAlchemy statements the service runs.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import asyncpg

from benchmarks import data
from benchmarks.sql import _sql
from school_payments.adapters.persistence.statement_figures import day_params, figures_query
from school_payments.domain.calendar import end_of_day, today_in


async def main(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        school = await connection.fetchrow("SELECT id, timezone FROM schools ORDER BY id LIMIT 1")
        page = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM students WHERE school_id = $1 ORDER BY id LIMIT 50", school["id"]
            )
        ]
        day = today_in(school["timezone"], datetime.now(UTC))
        past = day - timedelta(days=30)
        today = {"owner": school["id"], **day_params(day)}
        as_of = {
            "owner": school["id"],
            **day_params(past),
            "cutoff": end_of_day(past, school["timezone"]),
        }
        queries = {
            "school totals, today": _sql(figures_query("school", ("currency",), False), today),
            "school totals, as of 30 days ago": _sql(
                figures_query("school", ("currency",), True), as_of
            ),
            "a page of 50 students, today": _sql(
                figures_query("students", ("student_id", "currency"), False),
                {**today, "school": school["id"], "owners": page},
            ),
        }
        for title, sql in queries.items():
            if "as of" in title:
                await connection.execute("SET work_mem = '64MB'")  # as the service does
            print(f"== {title}")
            for row in await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"):
                print(row[0])
            print()
    finally:
        await connection.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else data.url_for("sp_bench_main")))
