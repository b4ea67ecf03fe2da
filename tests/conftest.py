"""Shared fixtures: throwaway databases, a fixed clock, the API in process, a redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    migrated_sqlite_template,
    sqlite_copy,
    truncate,
)
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A database of this test run on the real PostgreSQL, migrated, dropped at the end."""
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await migrated_sqlite_template(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture
async def pg_url(postgres_url: str) -> str:
    """The PostgreSQL test database, emptied for this test."""
    await truncate(postgres_url)
    return postgres_url


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on PostgreSQL first, then on SQLite (the embedded default)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    return sqlite_copy(template, tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def api(database_url: str, clock: FixedClock) -> AsyncIterator[Api]:
    async with running_api(settings_for(database_url), clock) as running:
        yield running


@pytest.fixture
async def pg_api(pg_url: str, clock: FixedClock) -> AsyncIterator[Api]:
    async with running_api(settings_for(pg_url), clock) as running:
        yield running


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
