"""The per-process near cache in front of Redis: statement versions and entries this process has
seen, bounded in entries and bytes, dropped when the invalidation channel says a version moved.

It holds no rule of its own about freshness: `RedisStatementCache` decides when it may be read
(the channel is live, the breaker closed, no bump pending) and when something may be recorded
(nothing was invalidated while the Redis answer was on its way: `epoch` did not move).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from school_payments.application.ports.cache import CachedStatement

ENTRY_OVERHEAD_BYTES = 200
"""What an entry costs beyond its body: the key, the tuple, the dataclass (measured ~180)."""


class NearCache:
    """An LRU of decoded entries by slot, and the current version of each owner seen."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        ttl_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._versions: dict[str, str] = {}
        self._entries: OrderedDict[str, tuple[float, CachedStatement, int]] = OrderedDict()
        self._bytes = 0
        self.epoch = 0
        """Moves on with every drop and flush: a Redis answer that started before a move is not
        recorded, since it may predate the invalidation that caused it."""

    def version(self, version_key: str) -> str | None:
        return self._versions.get(version_key)

    def entry(self, slot: str) -> CachedStatement | None:
        found = self._entries.get(slot)
        if found is None:
            return None
        if found[0] <= self._monotonic():
            self._remove(slot)
            return None
        self._entries.move_to_end(slot)
        return found[1]

    def remember_version(self, version_key: str, version: str) -> None:
        if version_key not in self._versions and len(self._versions) >= 2 * self._max_entries:
            # Versions are tiny but unbounded in number; forget the oldest learned.
            del self._versions[next(iter(self._versions))]
        self._versions[version_key] = version

    def remember_entry(self, slot: str, entry: CachedStatement) -> None:
        size = len(entry.body) + len(slot) + ENTRY_OVERHEAD_BYTES
        if size > self._max_bytes:
            return
        if slot in self._entries:
            self._remove(slot)
        self._entries[slot] = (self._monotonic() + self._ttl, entry, size)
        self._bytes += size
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._remove(next(iter(self._entries)))

    def drop_version(self, version_key: str) -> None:
        """An owner's version moved: its entries become unreachable (LRU and TTL free them)."""
        self._versions.pop(version_key, None)
        self.epoch += 1

    def flush(self) -> None:
        self._versions.clear()
        self._entries.clear()
        self._bytes = 0
        self.epoch += 1

    def _remove(self, slot: str) -> None:
        _, _, size = self._entries.pop(slot)
        self._bytes -= size

    @property
    def size(self) -> tuple[int, int]:
        """(entries, bytes) held now."""
        return len(self._entries), self._bytes

    @property
    def is_empty(self) -> bool:
        return not self._versions and not self._entries
