"""School API keys: shown once, stored as a hash, revocable; and the server is secure by default."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock


async def test_a_new_key_is_shown_once_and_works_for_its_school_only(api: Api) -> None:
    school = await api.school()
    response = await api.post(f"/api/v1/schools/{school['id']}/api-keys")
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert set(created) == {"id", "school_id", "key", "prefix", "created_at"}
    assert created["key"].startswith("spk_")
    assert len(created["key"]) > 40
    assert created["key"].startswith(created["prefix"])
    assert (await api.get(f"/api/v1/schools/{school['id']}", key=created["key"])).status_code == 200

    listed = (await api.get(f"/api/v1/schools/{school['id']}/api-keys")).json()["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    assert created["key"] not in str(listed)


async def test_the_secret_is_stored_only_as_a_hash(api: Api, database_url: str) -> None:
    school = await api.school()
    key = await api.school_key(school["id"])
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            dump = []
            for table in ("api_keys", "schools", "idempotency_keys"):
                rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()
                dump += [str(value) for row in rows for value in row]
    finally:
        await engine.dispose()
    assert dump
    assert not any(key in value or key[4:] in value for value in dump)


async def test_idempotency_keys_are_ignored_when_creating_api_keys(api: Api) -> None:
    school = await api.school()
    headers = {"Idempotency-Key": "same"}
    first = await api.post(f"/api/v1/schools/{school['id']}/api-keys", headers=headers)
    second = await api.post(f"/api/v1/schools/{school['id']}/api-keys", headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["key"] != second.json()["key"]
    assert "idempotent-replayed" not in second.headers


async def test_a_revoked_key_is_listed_with_its_revocation_and_refused(api: Api) -> None:
    school = await api.school()
    created = (await api.post(f"/api/v1/schools/{school['id']}/api-keys")).json()
    assert (await api.delete(f"/api/v1/api-keys/{created['id']}")).status_code == 204
    assert (await api.delete(f"/api/v1/api-keys/{created['id']}")).status_code == 204
    listed = (await api.get(f"/api/v1/schools/{school['id']}/api-keys")).json()["data"]
    assert listed[0]["revoked_at"] == "2026-11-24T12:00:00Z"
    missing = "01a20c0e-3763-70c0-8427-b70767570684"
    assert (await api.delete(f"/api/v1/api-keys/{missing}")).status_code == 404
    assert (await api.get(f"/api/v1/schools/{missing}/api-keys")).status_code == 404
    assert (await api.post(f"/api/v1/schools/{missing}/api-keys")).status_code == 404


async def test_revocation_takes_effect_once_the_verified_key_cache_expires(
    pg_url: str, clock: FixedClock
) -> None:
    async with running_api(settings_for(pg_url, api_key_cache_seconds=0.2), clock) as api:
        school = await api.school()
        created = (await api.post(f"/api/v1/schools/{school['id']}/api-keys")).json()
        path = f"/api/v1/schools/{school['id']}"
        assert (await api.get(path, key=created["key"])).status_code == 200  # now cached
        await api.delete(f"/api/v1/api-keys/{created['id']}")
        for _ in range(50):
            if (await api.get(path, key=created["key"])).status_code == 401:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the revoked key was still accepted after its cache expired")


async def test_deleting_a_school_deletes_its_keys(api: Api) -> None:
    school = await api.school()
    key = await api.school_key(school["id"])
    assert (await api.delete(f"/api/v1/schools/{school['id']}")).status_code == 204
    assert (await api.get("/api/v1/schools", key=key)).status_code == 401


async def test_database_statements_have_a_timeout(pg_url: str) -> None:
    database = Database(DatabaseSettings(url=pg_url, statement_timeout_ms=1_234))
    try:
        async with database.snapshot() as q:
            assert await q.scalar(text("SHOW statement_timeout")) == "1234ms"
    finally:
        await database.dispose()


@pytest.mark.slow  # the CLI in a process of its own
def test_the_server_refuses_to_start_without_an_operator_key() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_API_KEY", "AUTH_DISABLED")}
    result = subprocess.run(
        [sys.executable, "-m", "school_payments.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ADMIN_API_KEY" in result.stderr
    assert "--no-auth" in result.stderr
