"""The Redis statement cache: versioned keys, and a breaker so Redis never fails a read.

Every test runs twice: against a redis-server of its own (started on a free port) and against a
Redis Cluster of its own (three masters), which it freezes (SIGSTOP), kills and restarts, and
against the real PostgreSQL. A shard of the cluster is also killed on its own, mid-run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from school_payments.adapters.cache.memory_cache import (
    DisabledStatementCache,
    InProcessStatementCache,
)
from school_payments.adapters.cache.redis_cache import RedisStatementCache
from school_payments.adapters.cache.redis_clients import Client, redis_client
from school_payments.main import statement_cache_for
from school_payments.settings import Settings
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.redis_cluster import (  # redis_or_cluster: each test on both
    AnyRedis,
    RedisClusterServer,
    redis_or_cluster,  # noqa: F401
)

HANG_GUARD_SECONDS = (
    10  # a request that takes this long has hung: the test fails instead of waiting
)


@asynccontextmanager
async def cached_api(
    pg_url: str, server: AnyRedis, clock: FixedClock, *, near: bool = True
) -> AsyncIterator[Api]:
    """`near=False` for the tests about Redis' own layer (its counters, its outages), which the
    near cache would answer for (tests/e2e/test_near_cache.py holds the near cache's rules)."""
    settings = settings_for(
        pg_url,
        redis_url=server.url,
        breaker_failure_threshold=2,
        breaker_cooldown_seconds=0.3,
        near_cache_max_entries=10_000 if near else 0,
    )
    async with running_api(settings, clock) as api:
        yield api


def _breaker_state(api: Api) -> str:
    cache = api.assembly.cache
    assert isinstance(cache, RedisStatementCache)
    return cache.breaker.state.value


async def _billed_student(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000)
    return school, student, invoice


async def _get(api: Api, path: str) -> tuple[str, dict[str, Any]]:
    response = await asyncio.wait_for(api.get(path), HANG_GUARD_SECONDS)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"], response.json()


async def _int_at(client: Client, key: str) -> int:
    value = await client.get(key)
    assert value is not None, key
    return int(value)


async def _until_closed(api: Api, path: str) -> None:
    for _ in range(100):
        await asyncio.sleep(0.05)
        await _get(api, path)
        if _breaker_state(api) == "CLOSED":
            return
    pytest.fail("the breaker never closed again")


async def test_a_statement_is_a_miss_then_a_hit_and_a_payment_is_visible_at_once(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    async with cached_api(pg_url, redis_server, clock) as api:
        school, student, invoice = await _billed_student(api)
        student_path = f"/api/v1/students/{student['id']}/statement"
        school_path = f"/api/v1/schools/{school['id']}/statement"
        assert (await _get(api, student_path))[0] == "MISS"
        assert (await _get(api, school_path))[0] == "MISS"
        cache, first = await _get(api, student_path)
        assert cache == "HIT"
        assert (await _get(api, school_path))[0] == "HIT"

        await api.payment(invoice["id"], amount=2_500)
        cache, after = await _get(api, student_path)
        assert (cache, after["totals"][0]["paid"]) == ("MISS", 2_500)
        cache, school_after = await _get(api, school_path)
        assert (cache, school_after["totals"][0]["paid"]) == ("MISS", 2_500)
        assert first["totals"][0]["paid"] == 0
        assert (await _get(api, student_path))[0] == "HIT"


async def test_each_page_and_as_of_day_is_its_own_entry(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    async with cached_api(pg_url, redis_server, clock) as api:
        school, _, _ = await _billed_student(api)
        await api.student(school["id"])
        base = f"/api/v1/schools/{school['id']}/statement"
        first_page = await _get(api, f"{base}?limit=1")
        assert first_page[0] == "MISS"
        cursor = first_page[1]["students"]["next_cursor"]
        assert (await _get(api, f"{base}?limit=1&cursor={cursor}"))[0] == "MISS"
        assert (await _get(api, f"{base}?limit=1"))[0] == "HIT"
        assert (await _get(api, f"{base}?as_of=2026-11-01"))[0] == "MISS"
        assert (await _get(api, f"{base}?as_of=2026-11-01"))[0] == "HIT"


async def test_an_evicted_version_never_makes_an_older_entry_current_again(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    async with cached_api(pg_url, redis_server, clock, near=False) as api:
        _, student, invoice = await _billed_student(api)
        path = f"/api/v1/students/{student['id']}/statement"
        await _get(api, path)  # stored under the first version
        await api.payment(invoice["id"], amount=1_000)
        await _get(api, path)  # stored under the next one
        client = redis_client(redis_server.url, timeout_seconds=2)
        try:
            version_key = f"student:{{{student['id']}}}:statement:version"
            before = await _int_at(client, version_key)
            await client.delete(version_key)  # as if evicted under memory pressure
            cache, body = await _get(api, path)
            after = await _int_at(client, version_key)
        finally:
            await client.aclose()
        assert cache == "MISS"
        assert after > before
        assert body["totals"][0]["paid"] == 1_000


async def test_statements_survive_a_frozen_redis_and_the_cache_returns_after_it_thaws(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    async with cached_api(pg_url, redis_server, clock, near=False) as api:
        _, student, invoice = await _billed_student(api)
        path = f"/api/v1/students/{student['id']}/statement"
        await _get(api, path)
        assert (await _get(api, path))[0] == "HIT"

        redis_server.freeze()
        try:
            outcomes = []
            for _ in range(4):
                cache, body = await _get(api, path)
                outcomes.append(cache)
                assert body["totals"][0]["outstanding"] == 10_000
            assert outcomes == ["BYPASS"] * 4
            assert _breaker_state(api) in ("OPEN", "HALF_OPEN")
            # A write while Redis is frozen cannot move the version on; the cache must not serve
            # the older entry once Redis is back.
            await api.payment(invoice["id"], amount=4_000)
            cache, body = await _get(api, path)
            assert (cache, body["totals"][0]["paid"]) == ("BYPASS", 4_000)
        finally:
            redis_server.thaw()

        await _until_closed(api, path)
        cache, body = await _get(api, path)
        assert body["totals"][0]["paid"] == 4_000
        assert cache in ("MISS", "HIT")
        assert (await _get(api, path))[0] == "HIT"
        assert (await _get(api, path))[1]["totals"][0]["paid"] == 4_000


async def test_statements_survive_a_killed_redis_and_the_cache_returns_after_a_restart(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    async with cached_api(pg_url, redis_server, clock) as api:
        school, _, invoice = await _billed_student(api)
        path = f"/api/v1/schools/{school['id']}/statement"
        await _get(api, path)
        redis_server.kill()
        for _ in range(3):
            cache, body = await _get(api, path)
            assert (cache, body["totals"][0]["invoiced"]) == ("BYPASS", 10_000)
        assert _breaker_state(api) in ("OPEN", "HALF_OPEN")
        ready = (await api.client.get("/readyz")).json()
        assert ready["database"] == "ok"
        assert ready["cache"] == "unavailable"
        await api.payment(invoice["id"], amount=10_000)

        redis_server.start()
        await _until_closed(api, path)
        assert (await _get(api, path))[1]["totals"][0]["paid"] == 10_000
        cache, _ = await _get(api, path)
        assert cache == "HIT"
        ready = (await api.client.get("/readyz")).json()
        assert (ready["cache"], ready["circuit_breaker"]) == ("ok", "CLOSED")


async def test_a_payment_through_one_instance_is_visible_through_another(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    # Through Redis alone the other instance sees the write on its next read; with the near
    # cache, within one invalidation lease (test_near_cache.py).
    async with (
        cached_api(pg_url, redis_server, clock, near=False) as first,
        cached_api(pg_url, redis_server, clock, near=False) as second,
    ):
        school, student, invoice = await _billed_student(first)
        student_path = f"/api/v1/students/{student['id']}/statement"
        school_path = f"/api/v1/schools/{school['id']}/statement"
        for api in (first, second, first, second):
            await _get(api, student_path)
            await _get(api, school_path)
        assert (await _get(second, student_path))[0] == "HIT"

        await first.payment(invoice["id"], amount=3_000)
        for path in (student_path, school_path):
            cache, body = await _get(second, path)
            assert (cache, body["totals"][0]["paid"]) == ("MISS", 3_000)
        assert (await _get(first, student_path))[0] == "HIT"  # second stored the fresh one


async def test_a_cached_statement_is_not_served_to_another_school(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    async with cached_api(pg_url, redis_server, clock) as api:
        _, student, _ = await _billed_student(api)
        other = await api.school()
        other_key = await api.school_key(other["id"])
        path = f"/api/v1/students/{student['id']}/statement"
        await _get(api, path)
        assert (await _get(api, path))[0] == "HIT"
        response = await api.get(path, key=other_key)
        assert response.status_code == 404
        assert "x-cache" not in response.headers


async def test_a_zero_ttl_disables_the_cache(pg_url: str, clock: FixedClock) -> None:
    async with running_api(settings_for(pg_url, statement_cache_ttl_seconds=0), clock) as api:
        _, student, _ = await _billed_student(api)
        path = f"/api/v1/students/{student['id']}/statement"
        assert [(await _get(api, path))[0] for _ in range(2)] == ["BYPASS", "BYPASS"]
        ready = (await api.client.get("/readyz")).json()
        assert ready["cache"] == "disabled"


async def test_a_cached_statement_for_today_goes_stale_at_the_schools_midnight(
    pg_url: str, redis_server: AnyRedis, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 24, 5, 59, tzinfo=UTC))  # 23:59 on the 23rd in Mexico City
    async with cached_api(pg_url, redis_server, clock) as api:
        school = await api.school(timezone="America/Mexico_City")
        student = await api.student(school["id"])
        await api.invoice(student["id"], due_date="2026-11-23")
        path = f"/api/v1/students/{student['id']}/statement"
        cache, before = await _get(api, path)
        assert (cache, before["as_of"], before["invoices"][0]["status"]) == (
            "MISS",
            "2026-11-23",
            "PENDING",
        )
        assert (await _get(api, path))[0] == "HIT"
        clock.set(datetime(2026, 11, 24, 6, 1, tzinfo=UTC))  # 00:01 on the 24th there
        cache, after = await _get(api, path)
        assert (cache, after["as_of"], after["invoices"][0]["status"]) == (
            "MISS",
            "2026-11-24",
            "OVERDUE",
        )


def test_several_workers_without_redis_run_without_a_cache() -> None:
    assert isinstance(statement_cache_for(Settings(workers=1)), InProcessStatementCache)
    assert isinstance(statement_cache_for(Settings(workers=2)), DisabledStatementCache)
    assert isinstance(
        statement_cache_for(Settings(workers=2, redis_url="redis://127.0.0.1:1/0")),
        RedisStatementCache,
    )


async def test_a_killed_shard_is_an_outage_and_its_return_serves_nothing_older_than_a_write(
    pg_url: str, redis_cluster: RedisClusterServer, clock: FixedClock
) -> None:
    """One master of three dies mid-run: statements answer throughout (from the database while
    the cluster cannot serve), a payment made meanwhile is in the next statement, and the cache
    serves again once the shard is back."""
    async with cached_api(pg_url, redis_cluster, clock) as api:
        school, student, invoice = await _billed_student(api)
        paths = [
            f"/api/v1/students/{student['id']}/statement",
            f"/api/v1/schools/{school['id']}/statement",
        ]
        for path in paths * 2:
            await _get(api, path)
        assert [(await _get(api, path))[0] for path in paths] == ["HIT", "HIT"]

        redis_cluster.kill_shard(1)
        outcomes: list[str] = []
        # Until the cache gives way: at once if a key lives on the dead shard, else once the
        # others call the cluster down (past the node timeout). Every answer is right meanwhile.
        for _ in range(400):
            for path in paths:
                cache, body = await _get(api, path)
                outcomes.append(cache)
                assert body["totals"][0]["invoiced"] == 10_000
            if "BYPASS" in outcomes:
                break
            await asyncio.sleep(0.05)
        assert "BYPASS" in outcomes
        await api.payment(invoice["id"], amount=6_000)
        for path in paths:
            assert (await _get(api, path))[1]["totals"][0]["paid"] == 6_000

        redis_cluster.start_shard(1)
        await _until_closed(api, paths[0])
        for path in paths:
            cache, body = await _get(api, path)
            assert body["totals"][0]["paid"] == 6_000
            assert (await _get(api, path))[0] == "HIT"
