"""The in-process statement cache (no REDIS_URL): the same versioned-key semantics, one process."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from school_payments.adapters.cache.entries import decode, encode, entry_key, version_key
from school_payments.application.ports.cache import (
    CachedStatement,
    CacheHealth,
    CacheLookup,
    CacheOutcome,
    StatementKey,
)


class InProcessStatementCache:
    """A bounded LRU of statement entries with per-owner version counters, for one process."""

    def __init__(
        self,
        *,
        ttl_seconds: int,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._monotonic = monotonic
        # A counter shared by every owner never repeats a value, even when a version is evicted.
        self._counter = itertools.count(1)
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def lookup(self, key: StatementKey) -> CacheLookup:
        vkey = version_key(key.owner, key.owner_id)
        version = self._versions.get(vkey)
        if version is None:
            version = self._versions[vkey] = next(self._counter)
            self._trim(self._versions, self._max_entries * 10)
        slot = entry_key(key, version)
        found = self._entries.get(slot)
        if found is None or found[0] <= self._monotonic():
            return CacheLookup(CacheOutcome.MISS, None, slot)
        self._entries.move_to_end(slot)
        entry = decode(found[1])
        return (
            CacheLookup(CacheOutcome.HIT, entry, slot)
            if entry
            else CacheLookup(CacheOutcome.MISS, None, slot)
        )

    async def store(self, slot: str, entry: CachedStatement) -> None:
        self._entries[slot] = (self._monotonic() + self._ttl, encode(entry))
        self._entries.move_to_end(slot)
        self._trim(self._entries, self._max_entries)

    async def invalidate(
        self, *, schools: Iterable[UUID] = (), students: Iterable[UUID] = ()
    ) -> None:
        for owner, ids in (("school", schools), ("student", students)):
            for owner_id in ids:
                self._versions[version_key(owner, owner_id)] = next(self._counter)
        self._trim(self._versions, self._max_entries * 10)

    @staticmethod
    def _trim(mapping: OrderedDict[str, Any], limit: int) -> None:
        while len(mapping) > limit:
            mapping.popitem(last=False)

    async def health(self) -> CacheHealth:
        return CacheHealth("ok", "CLOSED")

    async def close(self) -> None:
        self._entries.clear()


class DisabledStatementCache:
    """No cache (TTL 0, or several workers without Redis): every statement is a BYPASS."""

    async def lookup(self, key: StatementKey) -> CacheLookup:
        return CacheLookup(CacheOutcome.BYPASS)

    async def store(self, slot: str, entry: CachedStatement) -> None:
        return None

    async def invalidate(
        self, *, schools: Iterable[UUID] = (), students: Iterable[UUID] = ()
    ) -> None:
        return None

    async def health(self) -> CacheHealth:
        return CacheHealth("disabled", "CLOSED")

    async def close(self) -> None:
        return None
