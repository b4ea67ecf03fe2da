"""Shared fixtures: throwaway databases, a fixed clock, the API in process, a redis-server.

Also the tiers: every test is marked `postgres`, `redis`, `poppler`, `slow`, or else `fast`
(`make test-fast` runs `-m fast`: no server, no poppler, well under 30 s). The markers come from
the fixtures a test uses (below), so a new test lands in the right tier by itself; the helpers in
tests/support refuse to reach a server for a test not marked for it (tests/support/tiers.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
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
from tests.support.redis_cluster import RedisClusterServer
from tests.support.redis_server import RedisServer
from tests.support.tiers import OUT_OF_FAST_TIER, running

# The fixtures that reach each server (closures included: a test using `pg_api` uses `pg_url`).
# `database_url` reaches PostgreSQL in its "postgresql" parametrisation only.
_FIXTURES_NEEDING = {
    "postgres": {"postgres_url", "pg_url"},
    "redis": {"redis_server", "redis_cluster"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with what it needs, and `fast` when it needs nothing of the kind."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        for marker, fixtures in _FIXTURES_NEEDING.items():
            if names & fixtures:
                item.add_marker(marker)
        if params.get("database_url") == "postgresql":
            item.add_marker("postgres")
        if not any(item.get_closest_marker(name) for name in OUT_OF_FAST_TIER):
            item.add_marker("fast")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    running(item)
    try:
        return (yield)
    finally:
        running(None)


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


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisClusterServer]:
    """A Redis Cluster of three masters on free ports (tests/support/redis_cluster.py)."""
    server = RedisClusterServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
