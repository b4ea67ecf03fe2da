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

from redis.asyncio.cluster import RedisCluster

from school_payments.adapters.cache.entries import (
    decode,
    encode,
    entry_key,
    entry_prefix,
    version_key,
)
from school_payments.adapters.cache.invalidation import InvalidationChannel
from school_payments.adapters.cache.near_cache import NearCache
from school_payments.adapters.cache.redis_clients import FAILURES, Client
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
# Moves the version on (creating it as above first when missing), and tells every process's
# near cache in the same step: a version never moves without its invalidation being published
# (ARGV[2] PUBLISH, or SPUBLISH on a cluster, to channel ARGV[3]; nothing without a channel).
_BUMP_VERSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]))
end
local v = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  redis.call(ARGV[2], ARGV[3], KEYS[1])
end
return v
"""

VERSION_TTL_SECONDS = 7 * 24 * 3600
"""Counters of owners nobody writes to expire; re-creating one is always safe (see above)."""
MAX_PENDING_BUMPS = 100_000


class RedisStatementCache:
    """Versioned statement entries in Redis; every failure is a BYPASS and a breaker failure.

    With a near cache and its invalidation channel, a lookup whose owner's version and entry this
    process already holds is answered without Redis, but only while the channel is live, the
    breaker closed and no bump of this process is pending; otherwise the near cache is flushed
    and bypassed.
    """

    def __init__(
        self,
        client: Client,
        breaker: CircuitBreaker,
        *,
        ttl_seconds: int,
        monotonic: Callable[[], float] = time.monotonic,
        near: NearCache | None = None,
        channel: InvalidationChannel | None = None,
    ) -> None:
        self._redis = client
        self._breaker = breaker
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._near = near if channel is not None else None
        self._channel = channel
        if channel is not None and near is not None:
            channel.on_version(near.drop_version)
            channel.on_loss(near.flush)
            channel.on_recovery(self._replay_pending)
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

    @property
    def near(self) -> NearCache | None:
        return self._near

    def _near_usable(self, near: NearCache) -> bool:
        assert self._channel is not None
        if (
            self._breaker.state is not BreakerState.CLOSED
            or self._pending
            or self._monotonic() < self._blind_until
        ):
            if not near.is_empty:
                near.flush()
            return False
        # Not live: bypassed, not flushed. A lapse on an open connection loses nothing (what
        # was published meanwhile arrives before the next pong); a lost connection flushes.
        return self._channel.live

    async def lookup(self, key: StatementKey) -> CacheLookup:
        near = self._near
        epoch = None
        if near is not None and self._near_usable(near):
            vkey = version_key(key.owner, key.owner_id)
            version = near.version(vkey)
            if version is not None:
                slot = entry_key(key, version)
                entry = near.entry(slot)
                if entry is not None:
                    return CacheLookup(CacheOutcome.HIT, entry, slot)
            epoch = near.epoch
        if self._monotonic() < self._blind_until:
            return CacheLookup(CacheOutcome.BYPASS)
        result = await self._guarded(lambda: self._lookup(key), "lookup")
        if result is None:
            return CacheLookup(CacheOutcome.BYPASS)
        if near is not None and epoch is not None and near.epoch == epoch:
            self._learn(near, key, result)
        return result

    def _learn(self, near: NearCache, key: StatementKey, found: CacheLookup) -> None:
        """Records what Redis answered, unless anything was invalidated while it was asked."""
        if found.slot is None or not self._near_usable(near):
            return
        prefix = entry_prefix(key)
        version = found.slot[len(prefix) : found.slot.index(":", len(prefix))]
        near.remember_version(version_key(key.owner, key.owner_id), version)
        if found.entry is not None:
            near.remember_entry(found.slot, found.entry)

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
        stored = await self._guarded(
            lambda: self._redis.set(slot, encode(entry), ex=self._ttl), "store"
        )
        near = self._near
        if stored and near is not None:
            # Kept near only if the owner's version this process holds is still the slot's:
            # an invalidation since the lookup has dropped or replaced it.
            owner, _, rest = slot.partition(":statement:v")
            current = near.version(f"{owner}:statement:version") == rest.partition(":")[0]
            if current and self._near_usable(near):
                near.remember_entry(slot, entry)

    async def invalidate(
        self, *, schools: Iterable[UUID] = (), students: Iterable[UUID] = ()
    ) -> None:
        keys = [version_key("school", s) for s in schools]
        keys += [version_key("student", s) for s in students]
        if not keys:
            return
        self._forget_near(keys)
        done = await self._guarded(lambda: self._bump(keys), "invalidate")
        if done is None:
            self._remember_pending(keys)
        # Again after the bump: a lookup of this process that read the old version while the
        # bump was on its way may have recorded it. The writer's next read must see the write.
        self._forget_near(keys)

    def _forget_near(self, keys: list[str]) -> None:
        if self._near is not None:
            for key in keys:
                self._near.drop_version(key)

    async def _bump(self, keys: list[str]) -> bool:
        if isinstance(self._redis, RedisCluster):
            # A cluster client refuses scripts in a pipeline: one call per key, each routed
            # to its key's shard, all at once.
            await asyncio.gather(*(self._bump_version(keys=[k], args=self._args(k)) for k in keys))
            return True
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                await self._bump_version(keys=[key], args=self._args(key), client=pipe)
            await pipe.execute()
        return True

    def _args(self, key: str) -> list[str | int]:
        command, channel = self._channel.publication(key) if self._channel else ("", "")
        return [VERSION_TTL_SECONDS, command, channel]

    async def _replay_pending(self) -> None:
        """Redis answers again: move on the versions this process failed to, before anything
        is trusted near (and so that other processes hear of those writes soon)."""
        if not self._pending:
            return
        try:
            await self._flush_pending()
        except FAILURES as error:
            self._warn("replay", error)

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
        except FAILURES as error:
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
        if self._channel is not None:
            await self._channel.close()
        await self._redis.aclose()
