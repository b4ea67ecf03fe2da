"""Issuing, revoking and listing school API keys: the operator's business only."""

from __future__ import annotations

import pytest

from school_payments.application.api_keys import KEY_PREFIX, ApiKey, hash_secret
from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.commands.api_keys import (
    CreateApiKey,
    CreateApiKeyHandler,
    RevokeApiKey,
    RevokeApiKeyHandler,
)
from school_payments.application.errors import ForbiddenError
from school_payments.application.pagination import PageRequest
from school_payments.application.queries.resources import ApiKeyQueries
from school_payments.domain.entities import School
from school_payments.domain.errors import NotFoundError
from school_payments.domain.ids import new_id
from tests.support.clock import FixedClock
from tests.unit.builders import NOW, a_school
from tests.unit.fake_readers import FakeApiKeyReader, FakeSchoolReader
from tests.unit.fakes import FakeDatabase


def school_caller(school: School) -> Caller:
    return Caller(key_id=f"key-of-{school.id}", school_id=school.id)


def given_a_school(db: FakeDatabase) -> School:
    school = a_school()
    db.given(school)
    return school


def an_api_key(school: School) -> ApiKey:
    return ApiKey(new_id(), school.id, "spk_abcdef", hash_secret("spk_x"), NOW)


async def test_a_new_api_key_is_stored_only_as_a_hash_of_its_secret(
    db: FakeDatabase, clock: FixedClock
) -> None:
    school = given_a_school(db)
    issued = await CreateApiKeyHandler(db.unit_of_work, clock)(CreateApiKey(school.id), OPERATOR)
    stored = db.committed.api_keys[issued.key.id]
    assert issued.secret.startswith(KEY_PREFIX)
    assert len(issued.secret) >= len(KEY_PREFIX) + 40
    assert stored.key_hash == hash_secret(issued.secret)
    assert issued.secret not in repr(db.committed)
    assert issued.secret.startswith(stored.prefix)
    assert (stored.school_id, stored.created_at, stored.revoked_at) == (school.id, NOW, None)


async def test_two_api_keys_never_share_a_secret(db: FakeDatabase, clock: FixedClock) -> None:
    school = given_a_school(db)
    handler = CreateApiKeyHandler(db.unit_of_work, clock)
    first = await handler(CreateApiKey(school.id), OPERATOR)
    second = await handler(CreateApiKey(school.id), OPERATOR)
    assert first.secret != second.secret
    assert first.key.key_hash != second.key.key_hash


async def test_a_school_key_may_not_create_api_keys_even_for_its_own_school(
    db: FakeDatabase, clock: FixedClock
) -> None:
    school = given_a_school(db)
    with pytest.raises(ForbiddenError):
        await CreateApiKeyHandler(db.unit_of_work, clock)(
            CreateApiKey(school.id), school_caller(school)
        )
    assert db.committed.api_keys == {}


async def test_an_api_key_for_an_unknown_school_is_refused(
    db: FakeDatabase, clock: FixedClock
) -> None:
    with pytest.raises(NotFoundError):
        await CreateApiKeyHandler(db.unit_of_work, clock)(CreateApiKey(new_id()), OPERATOR)
    assert db.committed.api_keys == {}


async def test_the_operator_revokes_a_key_once_keeping_the_first_revocation_time(
    db: FakeDatabase, clock: FixedClock
) -> None:
    key = an_api_key(given_a_school(db))
    db.given(key)
    handler = RevokeApiKeyHandler(db.unit_of_work, clock)
    await handler(RevokeApiKey(key.id), OPERATOR)
    clock.advance(hours=1)
    await handler(RevokeApiKey(key.id), OPERATOR)
    assert db.committed.api_keys[key.id].revoked_at == NOW


async def test_a_school_key_may_not_revoke_keys(db: FakeDatabase, clock: FixedClock) -> None:
    school = given_a_school(db)
    key = an_api_key(school)
    db.given(key)
    with pytest.raises(ForbiddenError):
        await RevokeApiKeyHandler(db.unit_of_work, clock)(
            RevokeApiKey(key.id), school_caller(school)
        )
    assert db.committed.api_keys[key.id].revoked_at is None


# -- listing ------------------------------------------------------------------------------------


def key_queries(school: School, *keys: ApiKey) -> ApiKeyQueries:
    return ApiKeyQueries(FakeApiKeyReader(*keys), FakeSchoolReader(school))


async def test_the_operator_lists_a_school_s_keys_revoked_ones_included() -> None:
    school = a_school()
    active, revoked = an_api_key(school), an_api_key(school)
    revoked.key_hash = hash_secret("spk_y")
    revoked.revoke(NOW)
    page = await key_queries(school, active, revoked).list(OPERATOR, school.id, PageRequest())
    assert {key.id for key in page.items} == {active.id, revoked.id}


async def test_a_school_key_may_not_list_keys_even_of_its_own_school() -> None:
    school = a_school()
    with pytest.raises(ForbiddenError):
        await key_queries(school, an_api_key(school)).list(
            school_caller(school), school.id, PageRequest()
        )


async def test_listing_the_keys_of_an_unknown_school_is_reported_missing() -> None:
    with pytest.raises(NotFoundError):
        await key_queries(a_school()).list(OPERATOR, new_id(), PageRequest())
