"""Turning a bearer key into a caller, without a database round trip on every request."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from uuid import UUID

from school_payments.application.api_keys import hash_secret
from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.commands.api_keys import RevokeApiKey, RevokeApiKeyHandler
from school_payments.application.ports.cache import RevocationFeed
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.readers import ApiKeyReader
from school_payments.application.ports.unit_of_work import UnitOfWorkFactory

MAX_KEY_LENGTH = 200
"""School keys are 47 characters; anything much longer is not worth a database lookup."""


class Authenticator:
    """Resolves bearer keys. A key revoked here is refused from the next request; one revoked
    elsewhere as soon as the revocation feed delivers it, or within `cache_seconds` while the
    feed is not listening (or there is none)."""

    def __init__(
        self,
        operator_key: str,
        keys: ApiKeyReader,
        *,
        cache_seconds: float = 5.0,
        listening_cache_seconds: float = 60.0,
        revocations: RevocationFeed | None = None,
        cache_size: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._operator_hash = hash_secret(operator_key)
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._listening_seconds = max(listening_cache_seconds, cache_seconds)
        self._revocations = revocations
        self._cache_size = cache_size
        self._monotonic = monotonic
        # key hash -> (caller or None for "no such key", when it was looked up, the feed's
        # listening session then: the long TTL holds only while that session is unbroken)
        self._cache: dict[str, tuple[Caller | None, float, int | None]] = {}
        self._forgotten = 0
        """Moves on with every revocation heard: a lookup that overlapped one is not cached."""

    async def authenticate(self, key: str) -> Caller | None:
        """The caller holding `key`, or None if it is unknown or revoked."""
        if not key:
            return None
        key_hash = hash_secret(key)
        if hmac.compare_digest(key_hash, self._operator_hash):
            return OPERATOR  # whatever its length: the operator chose it
        if len(key) > MAX_KEY_LENGTH:
            return None
        now = self._monotonic()
        session = self._revocations.session() if self._revocations is not None else None
        cached = self._cache.get(key_hash)
        if cached is not None:
            caller, looked_up_at, cached_session = cached
            age = now - looked_up_at
            if age < self._cache_seconds or (
                session is not None and session == cached_session and age < self._listening_seconds
            ):
                return caller
        forgotten = self._forgotten
        record = await self._keys.find_by_hash(key_hash)
        caller = (
            Caller(key_id=str(record.id), school_id=record.school_id)
            if record is not None and record.is_active
            else None
        )
        if forgotten == self._forgotten:
            self._remember(key_hash, caller, now, session)
        return caller

    def forget(self, key_id: str) -> None:
        """A key was revoked: it is looked up afresh on its next use."""
        self._cache = {
            h: v for h, v in self._cache.items() if v[0] is None or v[0].key_id != key_id
        }
        self._forgotten += 1

    async def revoked(self, key_id: UUID) -> None:
        """Forgets the key here at once, then tells the other instances."""
        self.forget(str(key_id))
        if self._revocations is not None:
            await self._revocations.announce(key_id)

    def _remember(
        self, key_hash: str, caller: Caller | None, now: float, session: int | None
    ) -> None:
        if len(self._cache) >= self._cache_size:
            # Drop what has expired; if the cache is still full (a flood of made-up keys),
            # start afresh rather than let it grow without bound.
            longest = self._listening_seconds if self._revocations else self._cache_seconds
            horizon = now - longest
            self._cache = {h: v for h, v in self._cache.items() if v[1] > horizon}
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
        self._cache[key_hash] = (caller, now, session)


class RevokeApiKeyEverywhereHandler(RevokeApiKeyHandler):
    """Revokes a key; this instance refuses it from the next request, every other one as soon
    as it hears (within `API_KEY_CACHE_SECONDS` if it cannot hear)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, authenticator: Authenticator) -> None:
        super().__init__(uow, clock)
        self._authenticator = authenticator

    async def __call__(self, command: RevokeApiKey, caller: Caller) -> None:
        await super().__call__(command, caller)
        await self._authenticator.revoked(command.key_id)
