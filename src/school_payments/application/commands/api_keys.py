"""Issuing and revoking school API keys (operator only)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from school_payments.application.api_keys import (
    ApiKey,
    IssuedApiKey,
    display_prefix,
    generate_secret,
    hash_secret,
)
from school_payments.application.caller import Caller
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.unit_of_work import UnitOfWorkFactory
from school_payments.domain.ids import new_id


@dataclass(frozen=True, slots=True)
class CreateApiKey:
    school_id: UUID


@dataclass(frozen=True, slots=True)
class RevokeApiKey:
    key_id: UUID


class CreateApiKeyHandler:
    """Issues a key for one school; its secret is returned once and only its hash is stored."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, command: CreateApiKey, caller: Caller) -> IssuedApiKey:
        caller.ensure_operator()
        secret = generate_secret()
        key = ApiKey(
            id=new_id(),
            school_id=command.school_id,
            prefix=display_prefix(secret),
            key_hash=hash_secret(secret),
            created_at=self._clock.now(),
        )
        async with self._uow(caller.scope) as uow:
            await uow.schools.get(command.school_id, for_update=True)
            await uow.api_keys.add(key)
            await uow.commit()
        return IssuedApiKey(key, secret)


class RevokeApiKeyHandler:
    """Revokes a key; every instance refuses it once its authentication cache entry expires."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, command: RevokeApiKey, caller: Caller) -> None:
        caller.ensure_operator()
        async with self._uow(caller.scope) as uow:
            key = await uow.api_keys.get(command.key_id)
            key.revoke(self._clock.now())
            await uow.api_keys.update(key)
            await uow.commit()
