"""School API keys: random secrets shown once, stored only as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

KEY_PREFIX = "spk_"
_HASH_KEY = b"school-payments/api-key/v1"
"""HMAC key for stored hashes. A key holds 256 random bits, so a fast hash is enough to make a
leaked table useless; the fixed HMAC key only separates these hashes from any other SHA-256 use."""


def generate_secret() -> str:
    """A new API key: the prefix (to recognise it in a leak scanner) and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hmac.new(_HASH_KEY, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def display_prefix(secret: str) -> str:
    """The first characters of a key, safe to show in listings so a human can tell keys apart."""
    return secret[: len(KEY_PREFIX) + 6]


@dataclass
class ApiKey:
    id: UUID
    school_id: UUID
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A newly created key together with its secret, which exists only in this response."""

    key: ApiKey
    secret: str
