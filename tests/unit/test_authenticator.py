"""Bearer keys become callers, cached briefly so a revocation takes effect within seconds."""

from __future__ import annotations

import secrets
from datetime import timedelta
from uuid import UUID

import pytest

from school_payments.application.api_keys import (
    KEY_PREFIX,
    ApiKey,
    display_prefix,
    generate_secret,
    hash_secret,
)
from school_payments.application.authentication import MAX_KEY_LENGTH, Authenticator
from school_payments.application.caller import OPERATOR, Caller
from school_payments.domain.ids import new_id
from school_payments.settings import ConfigurationError, Settings
from tests.support.clock import FakeMonotonic
from tests.unit.builders import NOW
from tests.unit.fake_readers import FakeApiKeyReader

OPERATOR_KEY = "operator-key-0123456789"
CACHE_SECONDS = 5.0


def a_key() -> tuple[str, ApiKey]:
    """A school's secret and its stored record."""
    secret = generate_secret()
    record = ApiKey(new_id(), new_id(), display_prefix(secret), hash_secret(secret), NOW)
    return secret, record


def an_authenticator(
    reader: FakeApiKeyReader, clock: FakeMonotonic | None = None, cache_size: int = 10_000
) -> Authenticator:
    return Authenticator(
        OPERATOR_KEY,
        reader,
        cache_seconds=CACHE_SECONDS,
        cache_size=cache_size,
        monotonic=clock or FakeMonotonic(),
    )


async def test_the_operator_key_is_recognised_without_asking_the_reader() -> None:
    reader = FakeApiKeyReader()
    assert await an_authenticator(reader).authenticate(OPERATOR_KEY) == OPERATOR
    assert reader.lookups == 0


async def test_a_school_key_authenticates_as_its_school_scoped_by_the_key_id() -> None:
    secret, record = a_key()
    caller = await an_authenticator(FakeApiKeyReader(record)).authenticate(secret)
    assert caller == Caller(key_id=str(record.id), school_id=record.school_id)
    assert caller is not None
    assert not caller.is_operator


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "spk_unknown",
        OPERATOR_KEY + " ",
        OPERATOR_KEY.upper(),
        OPERATOR_KEY[:-1],
        "x" * (MAX_KEY_LENGTH + 1),
    ],
)
async def test_unknown_or_nearly_right_keys_are_not_recognised(presented: str) -> None:
    assert await an_authenticator(FakeApiKeyReader()).authenticate(presented) is None


async def test_any_operator_key_the_settings_accept_lets_the_operator_in() -> None:
    # The contract puts no length limit on ADMIN_API_KEY; `openssl rand -hex 128` gives 256
    # characters. Refusing to start with such a key (naming the variable) would be fine too;
    # accepting it at start and then answering 401 to every operator request is not.
    long_key = secrets.token_hex(128)
    refusal: str | None = None
    try:
        settings = Settings.from_env({"ADMIN_API_KEY": long_key})
    except ConfigurationError as refused:
        refusal = str(refused)
    if refusal is not None:
        assert "ADMIN_API_KEY" in refusal
        return
    assert settings.admin_api_key == long_key
    authenticator = Authenticator(long_key, FakeApiKeyReader())
    assert await authenticator.authenticate(long_key) == OPERATOR


async def test_an_overlong_key_is_refused_without_asking_the_reader() -> None:
    reader = FakeApiKeyReader()
    await an_authenticator(reader).authenticate("spk_" + "a" * MAX_KEY_LENGTH)
    assert reader.lookups == 0


async def test_a_revoked_key_is_not_recognised() -> None:
    secret, record = a_key()
    record.revoke(NOW)
    assert await an_authenticator(FakeApiKeyReader(record)).authenticate(secret) is None


async def test_a_verified_key_is_served_from_memory_until_the_cache_expires() -> None:
    secret, record = a_key()
    reader, clock = FakeApiKeyReader(record), FakeMonotonic()
    authenticator = an_authenticator(reader, clock)
    first = await authenticator.authenticate(secret)
    clock.advance(CACHE_SECONDS - 0.001)
    assert await authenticator.authenticate(secret) == first
    assert reader.lookups == 1
    clock.advance(0.001)
    assert await authenticator.authenticate(secret) == first
    assert reader.lookups == 2


async def test_a_revocation_takes_effect_once_the_cached_verification_expires() -> None:
    secret, record = a_key()
    reader, clock = FakeApiKeyReader(record), FakeMonotonic()
    authenticator = an_authenticator(reader, clock)
    assert await authenticator.authenticate(secret) is not None
    reader.keys[record.key_hash].revoke(NOW + timedelta(minutes=1))
    clock.advance(CACHE_SECONDS / 2)
    assert await authenticator.authenticate(secret) is not None  # still within the window
    clock.advance(CACHE_SECONDS / 2)
    assert await authenticator.authenticate(secret) is None


async def test_an_unknown_key_is_remembered_as_unknown_for_the_cache_period() -> None:
    reader, clock = FakeApiKeyReader(), FakeMonotonic()
    authenticator = an_authenticator(reader, clock)
    for _ in range(5):
        assert await authenticator.authenticate("spk_made_up") is None
    assert reader.lookups == 1


async def test_the_cache_stays_bounded_under_a_flood_of_made_up_keys() -> None:
    secret, record = a_key()
    reader, clock = FakeApiKeyReader(record), FakeMonotonic()
    authenticator = an_authenticator(reader, clock, cache_size=100)
    for _ in range(2_000):
        assert await authenticator.authenticate(KEY_PREFIX + secrets.token_urlsafe(32)) is None
    assert len(authenticator._cache) <= 100
    # Real keys still work after the flood.
    assert await authenticator.authenticate(secret) is not None
    assert await authenticator.authenticate(OPERATOR_KEY) == OPERATOR


class FakeRevocationFeed:
    """A feed the test switches between listening sessions and deafness."""

    def __init__(self) -> None:
        self.current: int | None = 1
        self.announced: list[UUID] = []

    def session(self) -> int | None:
        return self.current

    async def announce(self, key_id: UUID) -> None:
        self.announced.append(key_id)


def a_listening_authenticator(
    reader: FakeApiKeyReader, clock: FakeMonotonic, feed: FakeRevocationFeed
) -> Authenticator:
    return Authenticator(
        OPERATOR_KEY,
        reader,
        cache_seconds=CACHE_SECONDS,
        listening_cache_seconds=60.0,
        revocations=feed,
        monotonic=clock,
    )


async def test_while_revocations_are_heard_a_verified_key_is_trusted_for_the_listening_ttl() -> (
    None
):
    secret, record = a_key()
    reader, clock, feed = FakeApiKeyReader(record), FakeMonotonic(), FakeRevocationFeed()
    authenticator = a_listening_authenticator(reader, clock, feed)
    assert await authenticator.authenticate(secret) is not None
    clock.advance(59)
    assert await authenticator.authenticate(secret) is not None
    assert reader.lookups == 1


async def test_a_key_cache_that_stopped_hearing_falls_back_to_the_short_ttl() -> None:
    secret, record = a_key()
    reader, clock, feed = FakeApiKeyReader(record), FakeMonotonic(), FakeRevocationFeed()
    authenticator = a_listening_authenticator(reader, clock, feed)
    await authenticator.authenticate(secret)
    clock.advance(CACHE_SECONDS + 1)
    feed.current = None  # deaf now: revocations may be missed
    await authenticator.authenticate(secret)
    assert reader.lookups == 2
    feed.current = 2  # listening again, but what was missed meanwhile is unknown
    clock.advance(CACHE_SECONDS + 1)
    await authenticator.authenticate(secret)
    assert reader.lookups == 3


async def test_a_key_revoked_here_is_refused_on_the_next_request_and_announced() -> None:
    secret, record = a_key()
    reader, clock, feed = FakeApiKeyReader(record), FakeMonotonic(), FakeRevocationFeed()
    authenticator = a_listening_authenticator(reader, clock, feed)
    assert await authenticator.authenticate(secret) is not None
    reader.keys[record.key_hash].revoke(NOW)
    await authenticator.revoked(record.id)
    assert await authenticator.authenticate(secret) is None
    assert feed.announced == [record.id]


async def test_a_revocation_heard_during_a_lookup_keeps_its_answer_out_of_the_cache() -> None:
    secret, record = a_key()
    clock, feed = FakeMonotonic(), FakeRevocationFeed()

    class RevokedDuringTheLookup(FakeApiKeyReader):
        async def find_by_hash(self, key_hash: str) -> ApiKey | None:
            found = await super().find_by_hash(key_hash)
            self.keys[record.key_hash].revoke(NOW)
            authenticator.forget(str(record.id))  # the channel delivered the revocation
            return found

    reader = RevokedDuringTheLookup(record)
    authenticator = a_listening_authenticator(reader, clock, feed)
    assert await authenticator.authenticate(secret) is not None  # read before the revocation
    assert await authenticator.authenticate(secret) is None


# -- API key material ---------------------------------------------------------------------------


def test_a_secret_carries_the_leak_scanner_prefix_and_256_random_bits() -> None:
    secret = generate_secret()
    assert secret.startswith("spk_")
    assert len(secret) == len("spk_") + 43  # 32 bytes in unpadded base64url


def test_the_stored_hash_is_stable_and_differs_from_key_to_key() -> None:
    assert hash_secret("spk_a") == hash_secret("spk_a")
    assert hash_secret("spk_a") != hash_secret("spk_b")
    assert "spk_a" not in hash_secret("spk_a")


def test_the_display_prefix_shows_only_six_characters_of_the_secret_part() -> None:
    assert display_prefix("spk_abcdefghijk") == "spk_abcdef"
