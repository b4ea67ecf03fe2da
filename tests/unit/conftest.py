"""Fixtures of the unit tests: an in-memory database and a statement cache that records."""

from __future__ import annotations

import pytest

from tests.unit.fakes import FakeDatabase, FakeStatementCache


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cache(db: FakeDatabase) -> FakeStatementCache:
    return FakeStatementCache(db)
