"""Server ids are UUIDv7: their order is the order in which this process made them."""

from __future__ import annotations

import time
import uuid
from itertools import pairwise
from types import SimpleNamespace

import pytest

from school_payments.domain import ids
from school_payments.domain.ids import new_id


def _milliseconds(value: uuid.UUID) -> int:
    return value.int >> 80


def test_an_id_is_a_version_7_uuid_of_the_rfc_variant() -> None:
    value = new_id()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert (value.int >> 62) & 0b11 == 0b10


def test_an_id_carries_the_current_unix_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    # A burst of ids may borrow a millisecond or two ahead of the clock.
    assert before <= _milliseconds(value) <= after + 5


def test_ids_made_in_a_tight_loop_are_strictly_increasing_and_unique() -> None:
    made = [new_id() for _ in range(20_000)]
    assert all(a < b for a, b in pairwise(made))
    assert all(a.bytes < b.bytes for a, b in pairwise(made))
    assert len(set(made)) == len(made)


def test_ids_sort_the_same_as_text_as_they_do_as_numbers() -> None:
    made = [new_id() for _ in range(1_000)]
    assert sorted(made, key=str) == made


def test_more_ids_than_the_counter_holds_in_one_millisecond_still_increase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen_ns = 1_790_000_000_000 * 1_000_000
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: frozen_ns))
    generate = ids._Uuid7()
    made = [generate() for _ in range(10_000)]
    assert all(a < b for a, b in pairwise(made))
    assert all(m.version == 7 and m.variant == uuid.RFC_4122 for m in made)
    # The 12-bit counter overflows: later ids borrow the following milliseconds.
    assert _milliseconds(made[0]) == 1_790_000_000_000
    assert _milliseconds(made[-1]) > _milliseconds(made[0])
