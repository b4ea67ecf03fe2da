"""Benchmark databases: created, migrated and seeded with the service's own commands."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.harness import CLI

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def url_for(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def fresh_database(name: str, *, cli: Path = CLI, template: str | None = None) -> str:
    """A new database `name` (a copy of `template`, if given) migrated by `cli`."""
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await admin.close()
    url = url_for(name)
    _cli(url, "migrate", cli=cli)
    return url


def seed(
    url: str,
    *,
    students: int,
    invoices_per_student: int,
    years: int = 1,
    seed: int = 1,
    cli: Path = CLI,
) -> None:
    """`school-payments seed`, with its progress bar on the terminal."""
    _cli(
        url,
        "seed",
        "--schools",
        "1",
        "--students",
        str(students),
        "--invoices-per-student",
        str(invoices_per_student),
        "--years",
        str(years),
        "--seed",
        str(seed),
        cli=cli,
    )


def _cli(url: str, *args: str, cli: Path = CLI) -> None:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    subprocess.run([str(cli), *args], env=env, check=True)


async def analyze(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


@dataclass
class School:
    id: UUID
    students: list[UUID]
    open_invoices: list[UUID]
    """Open invoices with at least 10,000 minor units left: room for many 1-unit payments."""
    invoices: list[UUID]


async def school(url: str, school_id: UUID | None = None, *, sample: int = 2_000) -> School:
    connection = await asyncpg.connect(url)
    try:
        if school_id is None:
            school_id = await connection.fetchval("SELECT id FROM schools ORDER BY id LIMIT 1")
        students = await connection.fetch(
            "SELECT id FROM students WHERE school_id = $1 ORDER BY random() LIMIT $2",
            school_id,
            sample,
        )
        open_invoices = await connection.fetch(
            "SELECT id FROM invoices WHERE school_id = $1"
            " AND status IN ('PENDING', 'PARTIALLY_PAID') AND amount - amount_paid >= 10000"
            " ORDER BY random() LIMIT $2",
            school_id,
            sample,
        )
        invoices = await connection.fetch(
            "SELECT id FROM invoices WHERE school_id = $1 ORDER BY random() LIMIT $2",
            school_id,
            sample,
        )
    finally:
        await connection.close()
    return School(
        school_id,
        [r["id"] for r in students],
        [r["id"] for r in open_invoices],
        [r["id"] for r in invoices],
    )


async def scalar(url: str, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()
