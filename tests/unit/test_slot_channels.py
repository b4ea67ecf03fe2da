"""Sharded invalidations: each version's invalidation goes out on a channel in its own slot."""

from __future__ import annotations

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from school_payments.adapters.cache.invalidation import (
    CHANNEL,
    InvalidationChannel,
    slot_channel,
)
from school_payments.adapters.cache.redis_clients import node_url


def test_every_slot_has_a_channel_of_its_own_that_lives_in_it() -> None:
    channels = [slot_channel(slot) for slot in range(REDIS_CLUSTER_HASH_SLOTS)]
    assert len(set(channels)) == REDIS_CLUSTER_HASH_SLOTS
    assert all(key_slot(channel.encode()) == slot for slot, channel in enumerate(channels))


def test_a_version_is_published_in_its_own_slot_on_a_cluster_and_on_one_channel_otherwise() -> None:
    key = "student:{0190f2a4-0000-7000-8000-000000000001}:statement:version"
    command, channel = InvalidationChannel("redis+cluster://127.0.0.1:7000").publication(key)
    assert (command, key_slot(channel.encode())) == ("SPUBLISH", key_slot(key.encode()))
    assert InvalidationChannel("redis://127.0.0.1:6379/0").publication(key) == (
        "PUBLISH",
        CHANNEL,
    )


def test_each_master_is_reached_with_the_cluster_urls_scheme_and_credentials() -> None:
    assert node_url("redis+cluster://10.0.0.5:6379", "10.0.0.7:6380") == "redis://10.0.0.7:6380"
    assert (
        node_url("rediss+cluster://app:s%40cret@redis.internal:6379/0", "10.0.0.7:6380")
        == "rediss://app:s%40cret@10.0.0.7:6380"
    )
