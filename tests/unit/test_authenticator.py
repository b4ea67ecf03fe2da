"""Bearer keys become callers, cached briefly so a revocation takes effect within seconds."""

from __future__ import annotations

import secrets
from datetime import timedelta

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
