"""The near cache's memory: bounded in entries and bytes, emptied by drops and flushes."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from school_payments.adapters.cache.near_cache import ENTRY_OVERHEAD_BYTES, NearCache
from school_payments.application.ports.cache import CachedStatement
from tests.support.clock import FakeMonotonic


def an_entry(size: int = 100) -> CachedStatement:
    return CachedStatement(uuid4(), date(2026, 11, 24), "UTC", b"x" * size)


def a_near_cache(
    clock: FakeMonotonic | None = None, max_entries: int = 100, max_bytes: int = 1_000_000
) -> NearCache:
    return NearCache(
        max_entries=max_entries,
        max_bytes=max_bytes,
        ttl_seconds=60,
        monotonic=clock or FakeMonotonic(),
    )


def test_an_entry_is_found_by_its_slot_until_its_ttl_passes() -> None:
    clock = FakeMonotonic()
    near = a_near_cache(clock)
    entry = an_entry()
    near.remember_entry("s1", entry)
    assert near.entry("s1") is entry
    clock.advance(60)
    assert near.entry("s1") is None
    assert near.size == (0, 0)


def test_the_least_recently_used_entries_go_first_past_the_entry_bound() -> None:
    near = a_near_cache(max_entries=3)
    for slot in ("a", "b", "c"):
        near.remember_entry(slot, an_entry())
    near.entry("a")
    near.remember_entry("d", an_entry())
    assert [near.entry(s) is not None for s in ("a", "b", "c", "d")] == [True, False, True, True]


def test_the_bytes_held_stay_under_the_byte_bound() -> None:
    size = 1_000
    limit = 3 * (size + 1 + ENTRY_OVERHEAD_BYTES)
    near = a_near_cache(max_bytes=limit)
    for slot in "abcdefgh":
        near.remember_entry(slot, an_entry(size))
        assert near.size[1] <= limit
    assert near.size[0] == 3
    near.remember_entry("huge", an_entry(limit))  # larger than the whole cache: not kept
    assert near.entry("huge") is None


def test_a_dropped_version_and_a_flush_move_the_epoch_on() -> None:
    near = a_near_cache()
    near.remember_version("student:{1}:statement:version", "7")
    near.remember_entry("student:{1}:statement:v7:asof=today", an_entry())
    epoch = near.epoch
    near.drop_version("student:{1}:statement:version")
    assert near.version("student:{1}:statement:version") is None
    assert near.epoch > epoch
    near.flush()
    assert near.is_empty
    assert near.epoch > epoch + 1


def test_versions_stay_bounded_too() -> None:
    near = a_near_cache(max_entries=10)
    for i in range(100):
        near.remember_version(f"student:{{{i}}}:statement:version", "1")
    assert (
        sum(near.version(f"student:{{{i}}}:statement:version") is not None for i in range(100))
        <= 20
    )
