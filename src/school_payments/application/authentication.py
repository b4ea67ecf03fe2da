"""Turning a bearer key into a caller, without a database round trip on every request."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from school_payments.application.api_keys import hash_secret
from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.ports.readers import ApiKeyReader

MAX_KEY_LENGTH = 200
"""School keys are 47 characters; anything much longer is not worth a database lookup."""


class Authenticator:
    """Resolves bearer keys; a revoked key stops working within `cache_seconds` everywhere."""

    def __init__(
        self,
        operator_key: str,
        keys: ApiKeyReader,
        *,
        cache_seconds: float = 5.0,
        cache_size: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._operator_hash = hash_secret(operator_key)
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._monotonic = monotonic
        # key hash -> (caller or None for "no such key", expiry on the monotonic clock)
        self._cache: dict[str, tuple[Caller | None, float]] = {}

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
        cached = self._cache.get(key_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await self._keys.find_by_hash(key_hash)
        caller = (
            Caller(key_id=str(record.id), school_id=record.school_id)
            if record is not None and record.is_active
            else None
        )
        self._remember(key_hash, caller, now)
        return caller

    def _remember(self, key_hash: str, caller: Caller | None, now: float) -> None:
        if len(self._cache) >= self._cache_size:
            # Drop what has expired; if the cache is still full (a flood of made-up keys),
            # start afresh rather than let it grow without bound.
            self._cache = {h: v for h, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
        self._cache[key_hash] = (caller, now + self._cache_seconds)
