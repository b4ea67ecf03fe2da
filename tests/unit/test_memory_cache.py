"""The in-process statement cache: versioned keys, a TTL and a bounded LRU."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_payments.adapters.cache.entries import decode, encode, entry_key, version_key
from school_payments.adapters.cache.memory_cache import (
    DisabledStatementCache,
    InProcessStatementCache,
)
from school_payments.application.ports.cache import (
    CachedStatement,
    CacheHealth,
    CacheOutcome,
    StatementKey,
)
from school_payments.domain.ids import new_id
from tests.support.clock import FakeMonotonic

TTL = 60


def a_cache(clock: FakeMonotonic | None = None, **options: int) -> InProcessStatementCache:
    return InProcessStatementCache(ttl_seconds=TTL, monotonic=clock or FakeMonotonic(), **options)


def a_key(owner: str = "student", variant: str = "asof=today") -> StatementKey:
    return StatementKey(owner, new_id(), variant)  # type: ignore[arg-type]


def an_entry(body: bytes = b'{"totals":[]}', **fields: object) -> CachedStatement:
    values: dict[str, object] = {
        "school_id": new_id(),
        "day": date(2026, 11, 24),
        "timezone": "America/Mexico_City",
        "body": body,
    }
    values.update(fields)
    return CachedStatement(**values)  # type: ignore[arg-type]


async def stored(cache: InProcessStatementCache, key: StatementKey, entry: CachedStatement) -> str:
    """Looks the key up (a miss) and stores `entry` in the slot it was given."""
    lookup = await cache.lookup(key)
    assert lookup.outcome is CacheOutcome.MISS
    assert lookup.slot is not None
    await cache.store(lookup.slot, entry)
    return lookup.slot


# -- keys ---------------------------------------------------------------------------------------


async def test_a_slot_is_named_after_the_owner_its_version_and_the_variant() -> None:
    key = a_key(variant="asof=2026-11-01")
    lookup = await a_cache().lookup(key)
    assert lookup.slot is not None
    assert re.fullmatch(
        rf"student:\{{{key.owner_id}\}}:statement:v\d+:asof=2026-11-01", lookup.slot
    )


def test_the_version_and_entry_keys_share_the_owner_s_hash_tag() -> None:
    key = StatementKey("school", new_id(), "asof=today;limit=50;after=")
    assert version_key("school", key.owner_id) == f"school:{{{key.owner_id}}}:statement:version"
    assert entry_key(key, 7) == f"school:{{{key.owner_id}}}:statement:v7:asof=today;limit=50;after="


# -- hits and misses ----------------------------------------------------------------------------


async def test_a_statement_never_stored_is_a_miss_with_a_slot_to_store_it_in() -> None:
    lookup = await a_cache().lookup(a_key())
    assert lookup.outcome is CacheOutcome.MISS
    assert lookup.entry is None
    assert lookup.slot is not None


async def test_a_stored_statement_is_then_a_hit_with_the_same_entry() -> None:
    cache, key, entry = a_cache(), a_key(), an_entry()
    await stored(cache, key, entry)
    lookup = await cache.lookup(key)
    assert lookup.outcome is CacheOutcome.HIT
    assert lookup.entry == entry


async def test_variants_of_one_owner_are_cached_apart() -> None:
    cache, key = a_cache(), a_key(variant="asof=today")
    other = StatementKey(key.owner, key.owner_id, "asof=2026-01-01")
    await stored(cache, key, an_entry(b"today"))
    assert (await cache.lookup(other)).outcome is CacheOutcome.MISS


async def test_students_and_schools_with_the_same_id_are_cached_apart() -> None:
    cache, key = a_cache(), a_key("student")
    await stored(cache, key, an_entry())
    school_key = StatementKey("school", key.owner_id, key.variant)
    assert (await cache.lookup(school_key)).outcome is CacheOutcome.MISS


# -- invalidation -------------------------------------------------------------------------------


async def test_invalidating_the_owner_makes_its_entry_unreachable_and_gives_a_new_slot() -> None:
    cache, key = a_cache(), a_key()
    slot = await stored(cache, key, an_entry())
    await cache.invalidate(students=[key.owner_id])
    lookup = await cache.lookup(key)
    assert lookup.outcome is CacheOutcome.MISS
    assert lookup.slot not in (None, slot)


async def test_invalidating_one_owner_leaves_the_others_cached() -> None:
    cache, key, other = a_cache(), a_key(), a_key()
    await stored(cache, key, an_entry())
    await stored(cache, other, an_entry())
    await cache.invalidate(students=[key.owner_id], schools=[other.owner_id])
    assert (await cache.lookup(key)).outcome is CacheOutcome.MISS
    assert (await cache.lookup(other)).outcome is CacheOutcome.HIT


async def test_an_entry_built_before_an_invalidation_is_never_served_after_it() -> None:
    cache, key = a_cache(), a_key()
    lookup = await cache.lookup(key)  # a request reads the version, then the database…
    await cache.invalidate(students=[key.owner_id])  # …while a payment commits
    assert lookup.slot is not None
    await cache.store(lookup.slot, an_entry(b"stale"))
    assert (await cache.lookup(key)).outcome is CacheOutcome.MISS


# -- expiry and bounds --------------------------------------------------------------------------


async def test_an_entry_expires_after_the_ttl() -> None:
    clock = FakeMonotonic()
    cache, key = a_cache(clock), a_key()
    await stored(cache, key, an_entry())
    clock.advance(TTL - 0.001)
    assert (await cache.lookup(key)).outcome is CacheOutcome.HIT
    clock.advance(0.001)
    assert (await cache.lookup(key)).outcome is CacheOutcome.MISS


async def test_the_least_recently_used_entry_is_evicted_first() -> None:
    cache = a_cache(max_entries=2)
    first, second, third = a_key(), a_key(), a_key()
    await stored(cache, first, an_entry())
    await stored(cache, second, an_entry())
    assert (await cache.lookup(first)).outcome is CacheOutcome.HIT  # first is now the freshest
    await stored(cache, third, an_entry())
    assert (await cache.lookup(second)).outcome is CacheOutcome.MISS
    assert (await cache.lookup(first)).outcome is CacheOutcome.HIT
    assert (await cache.lookup(third)).outcome is CacheOutcome.HIT


async def test_an_evicted_version_never_makes_an_older_entry_current_again() -> None:
    cache, key = a_cache(max_entries=1), a_key()
    old_slot = await stored(cache, key, an_entry(b"before the payment"))
    await cache.invalidate(students=[key.owner_id])
    # Versions are bounded too (10 × max_entries): enough other owners push this one out.
    for _ in range(50):
        await cache.lookup(a_key())
    lookup = await cache.lookup(key)
    assert lookup.outcome is CacheOutcome.MISS
    assert lookup.slot != old_slot


async def test_a_closed_cache_has_forgotten_its_entries() -> None:
    cache, key = a_cache(), a_key()
    await stored(cache, key, an_entry())
    await cache.close()
    assert (await cache.lookup(key)).outcome is CacheOutcome.MISS


async def test_the_in_process_cache_reports_itself_healthy() -> None:
    assert await a_cache().health() == CacheHealth("ok", "CLOSED")


# -- the disabled cache -------------------------------------------------------------------------


async def test_the_disabled_cache_always_bypasses_even_after_a_store() -> None:
    cache, key = DisabledStatementCache(), a_key()
    first = await cache.lookup(key)
    await cache.store("anything", an_entry())
    await cache.invalidate(students=[key.owner_id])
    second = await cache.lookup(key)
    for lookup in (first, second):
        assert lookup.outcome is CacheOutcome.BYPASS
        assert (lookup.entry, lookup.slot) == (None, None)
    assert await cache.health() == CacheHealth("disabled", "CLOSED")


# -- entries ------------------------------------------------------------------------------------


def test_an_entry_survives_encoding_and_decoding() -> None:
    entry = an_entry(body=b'{"a": 1}\n{"b": "\\n"}\n')
    assert decode(encode(entry)) == entry


@given(
    body=st.binary(max_size=500),
    timezone=st.sampled_from(["UTC", "Pacific/Kiritimati", "America/Santiago"]),
    day=st.dates(),
)
def test_any_body_survives_encoding_and_decoding_byte_for_byte(
    body: bytes, timezone: str, day: date
) -> None:
    entry = an_entry(body=body, timezone=timezone, day=day)
    assert decode(encode(entry)) == entry


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"no newline at all",
        b"\xff\xfe\n{}",
        b"not json\nbody",
        b"{}\nbody",
        b"[1, 2]\nbody",
        b"null\nbody",
        b'"text"\nbody',
        b'{"school_id": "nope", "day": "2026-11-24", "tz": "UTC"}\nbody',
        b'{"school_id": "0192f0c4-1111-7000-8000-000000000000", "day": "24/11", "tz": "UTC"}\nx',
        b'{"school_id": "0192f0c4-1111-7000-8000-000000000000", "day": 5, "tz": "UTC"}\nx',
        b'{"school_id": "0192f0c4-1111-7000-8000-000000000000", "day": "2026-11-24"}\nx',
    ],
)
def test_bytes_that_are_not_an_entry_decode_to_nothing(raw: bytes) -> None:
    assert decode(raw) is None
