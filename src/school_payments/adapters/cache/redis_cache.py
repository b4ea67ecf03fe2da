"""The statement cache in Redis, behind a circuit breaker: Redis can slow a read by one timeout
at most, and never fails it.

Versions are counters that a write moves on *after* its commit; a reader reads the version
*before* it queries the database, so an entry is never stored under a version newer than its
data. A missing counter (evicted, or Redis restarted empty) is re-created from Redis' clock in
microseconds, which is larger than any value the old counter reached by counting, so a reset can
never make an older entry current again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from school_payments.adapters.cache.entries import decode, encode, entry_prefix, version_key
from school_payments.adapters.resilience.circuit_breaker import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
)
from school_payments.application.ports.cache import (
    CachedStatement,
    CacheHealth,
    CacheLookup,
    CacheOutcome,
    StatementKey,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Reads the version (creating it from the server clock in µs when it does not exist) and the
# entry stored under it, in one round trip. The entry's key is built here from the version: it
# shares the owner's hash tag, so it lives in the version's cluster slot.
_LOOKUP = """
local v = redis.call('GET', KEYS[1])
if not v then
  local t = redis.call('TIME')
  v = t[1] .. string.format('%06d', t[2])
  redis.call('SET', KEYS[1], v, 'EX', ARGV[1])
end
local slot = ARGV[2] .. v .. ':' .. ARGV[3]
return {slot, redis.call('GET', slot)}
"""
# Moves the version on (creating it as above first when missing).
_BUMP_VERSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]))
end
local v = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return v
"""

VERSION_TTL_SECONDS = 7 * 24 * 3600
"""Counters of owners nobody writes to expire; re-creating one is always safe (see above)."""
MAX_PENDING_BUMPS = 100_000
_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


def redis_client(url: str, *, timeout_seconds: float = 0.25, max_connections: int = 32) -> Redis:
    """A client that fails fast: short connect/read timeouts, no retries, a bounded pool.

    redis-py's defaults take seconds (refused) to a minute (frozen server) to fail one call,
    retrying ten times; the breaker, not the client, decides when to try again.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,  # wait for a free connection no longer than for an answer
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        # With maintenance notifications on (redis-py 8's "auto"), the pool skips its check for
        # connections the server closed; after a Redis restart, requests would meet dead ones.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
    return Redis(connection_pool=pool)


class RedisStatementCache:
    """Versioned statement entries in Redis; every failure is a BYPASS and a breaker failure."""

    def __init__(
        self,
        client: Redis,
        breaker: CircuitBreaker,
        *,
        ttl_seconds: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._breaker = breaker
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lookup_script = client.register_script(_LOOKUP)
        self._bump_version = client.register_script(_BUMP_VERSION)
        # Versions this instance failed to move on (Redis was unreachable after a commit).
        # Until they are moved on, this instance serves nothing from the cache, so it never
        # serves an entry older than a write it acknowledged.
        self._pending: set[str] = set()
        self._blind_until = 0.0
        self._last_warning = 0.0

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    async def lookup(self, key: StatementKey) -> CacheLookup:
        if self._monotonic() < self._blind_until:
            return CacheLookup(CacheOutcome.BYPASS)
        result = await self._guarded(lambda: self._lookup(key), "lookup")
        return result if result is not None else CacheLookup(CacheOutcome.BYPASS)

    async def _lookup(self, key: StatementKey) -> CacheLookup:
        if self._pending:
            await self._flush_pending()
        found = await self._lookup_script(
            keys=[version_key(key.owner, key.owner_id)],
            args=[VERSION_TTL_SECONDS, entry_prefix(key), key.variant],
        )
        slot_bytes, raw = cast(list[bytes | None], found)  # bytes: decode_responses is off
        assert slot_bytes is not None
        slot = slot_bytes.decode()
        entry = decode(raw) if raw is not None else None
        if entry is None:
            return CacheLookup(CacheOutcome.MISS, None, slot)
        return CacheLookup(CacheOutcome.HIT, entry, slot)

    async def store(self, slot: str, entry: CachedStatement) -> None:
        await self._guarded(lambda: self._redis.set(slot, encode(entry), ex=self._ttl), "store")

    async def invalidate(
        self, *, schools: Iterable[UUID] = (), students: Iterable[UUID] = ()
    ) -> None:
        keys = [version_key("school", s) for s in schools]
        keys += [version_key("student", s) for s in students]
        if not keys:
            return
        done = await self._guarded(lambda: self._bump(keys), "invalidate")
        if done is None:
            self._remember_pending(keys)

    async def _bump(self, keys: list[str]) -> bool:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                await self._bump_version(keys=[key], args=[VERSION_TTL_SECONDS], client=pipe)
            await pipe.execute()
        return True

    async def _flush_pending(self) -> None:
        pending = list(self._pending)
        await self._bump(pending)
        self._pending.difference_update(pending)
        log.info("cache versions moved on after an outage", extra={"count": len(pending)})

    def _remember_pending(self, keys: list[str]) -> None:
        self._pending.update(keys)
        if len(self._pending) > MAX_PENDING_BUMPS:
            # Too many to replay: stop serving from the cache until every entry that could
            # predate those writes has expired.
            self._pending.clear()
            self._blind_until = self._monotonic() + self._ttl

    async def _guarded(self, operation: Callable[[], Awaitable[T]], what: str) -> T | None:
        """Runs a Redis operation through the breaker; any failure becomes None."""
        try:
            return await self._breaker.call(operation)
        except CircuitOpenError:
            return None
        except _FAILURES as error:
            self._warn(what, error)
            return None

    def _warn(self, what: str, error: BaseException) -> None:
        now = self._monotonic()
        if now - self._last_warning >= 5.0:  # one line per few seconds, not one per request
            self._last_warning = now
            log.warning(
                "statement cache unavailable, serving from the database",
                extra={"operation": what, "error": type(error).__name__},
            )

    async def health(self) -> CacheHealth:
        state = self._breaker.state
        if state is BreakerState.OPEN:
            return CacheHealth("unavailable", "OPEN")
        ok = await self._guarded(self._ping, "ping")
        status: Literal["ok", "unavailable"] = "ok" if ok else "unavailable"
        return CacheHealth(status, self._breaker.state.value)

    async def _ping(self) -> Any:
        return await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()
