"""Configuration from the environment: the contract's variables and a few operational knobs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

WORKERS_ENV = "SCHOOL_PAYMENTS_WORKERS"
"""Set by `serve` for its workers: with several and no Redis, the in-process cache is off."""


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not value >= 0:
        raise ConfigurationError(f"{name} must be ≥ 0, got {raw!r}")
    return value


def _replica_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(
        url.strip() for url in env.get("DATABASE_REPLICA_URLS", "").split(",") if url.strip()
    )
    if urls and not env.get("DATABASE_URL", "").startswith(("postgresql", "postgres")):
        raise ConfigurationError(
            "DATABASE_REPLICA_URLS needs DATABASE_URL to name the PostgreSQL primary they"
            " replicate; unset DATABASE_REPLICA_URLS on the embedded default"
        )
    bad = [url for url in urls if not url.startswith(("postgresql", "postgres"))]
    if bad:
        raise ConfigurationError(
            "DATABASE_REPLICA_URLS must list postgresql:// URLs separated by commas,"
            f" got {len(bad)} that are not"
        )
    return urls


def _bool(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    database_replica_urls: tuple[str, ...] = ()
    """Streaming replicas of DATABASE_URL that serve reads when fresh enough (ADR 0020)."""
    redis_url: str | None = None
    statement_cache_ttl_seconds: int = 60
    admin_api_key: str | None = field(default=None, repr=False)
    auth_disabled: bool = False
    log_level: str = "INFO"
    workers: int = 1
    breaker_failure_threshold: int = 5
    breaker_cooldown_seconds: float = 5.0
    redis_timeout_seconds: float = 0.25
    database_pool_size: int = 10
    database_statement_timeout_ms: int = 5_000
    api_key_cache_seconds: float = 5.0
    api_key_cache_listening_seconds: float = 60.0
    near_cache_max_entries: int = 10_000
    near_cache_max_mb: int = 64
    invalidation_lease_ms: int = 250
    metrics_enabled: bool = True
    tenant_expensive_concurrency: int = 4
    """Statements and documents one school may have in progress at once, per process."""
    expensive_concurrency: int = 2
    """Statements and documents of all schools together that run at once, per process; the
    other admitted ones wait their turn (see adapters/resilience/tenant_limiter.py)."""
    http_max_header_bytes: int = 16 * 1024
    """The request line and headers together; larger is refused (431) before anything is read."""
    http_header_timeout_seconds: float = 10.0
    """How long a client may take to send its request line and headers."""
    http_keep_alive_seconds: float = 5.0
    """How long an idle kept-alive connection stays open."""
    http_max_concurrency: int = 1000
    """Connections plus requests in progress per worker; beyond it new ones get 503 at once."""
    webhook_allow_private_urls: bool = False
    webhook_timeout_seconds: float = 10.0
    """How long a receiver has to answer (the contract's 10 s; tests shorten it)."""
    worker_heartbeat_seconds: float = 30.0
    """A job whose worker sent no heartbeat for this long is handed to another worker."""
    embedded_worker: bool | None = None
    """Run the webhook worker inside `serve` (None: only on the embedded default, SQLite)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = env.get("LOG_LEVEL", "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigurationError(
                f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}"
            )
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            database_replica_urls=_replica_urls(env),
            redis_url=env.get("REDIS_URL") or None,
            statement_cache_ttl_seconds=_int(env, "STATEMENT_CACHE_TTL_SECONDS", 60),
            admin_api_key=env.get("ADMIN_API_KEY") or None,
            auth_disabled=_bool(env, "AUTH_DISABLED"),
            log_level=level,
            workers=_int(env, WORKERS_ENV, 1, minimum=1),
            breaker_failure_threshold=_int(env, "CIRCUIT_BREAKER_FAILURE_THRESHOLD", 5, minimum=1),
            breaker_cooldown_seconds=_float(env, "CIRCUIT_BREAKER_COOLDOWN_SECONDS", 5.0),
            redis_timeout_seconds=_float(env, "REDIS_TIMEOUT_SECONDS", 0.25),
            database_pool_size=_int(env, "DATABASE_POOL_SIZE", 10, minimum=1),
            database_statement_timeout_ms=_int(
                env, "DATABASE_STATEMENT_TIMEOUT_MS", 5_000, minimum=1
            ),
            api_key_cache_seconds=_float(env, "API_KEY_CACHE_SECONDS", 5.0),
            api_key_cache_listening_seconds=_float(env, "API_KEY_CACHE_LISTENING_SECONDS", 60.0),
            near_cache_max_entries=_int(env, "NEAR_CACHE_MAX_ENTRIES", 10_000),
            near_cache_max_mb=_int(env, "NEAR_CACHE_MAX_MB", 64),
            invalidation_lease_ms=_int(env, "INVALIDATION_LEASE_MS", 250, minimum=4),
            metrics_enabled=env.get("METRICS_ENABLED", "true").strip().lower()
            not in {"0", "false", "no", "off"},
            tenant_expensive_concurrency=_int(env, "TENANT_EXPENSIVE_CONCURRENCY", 4, minimum=1),
            expensive_concurrency=_int(env, "EXPENSIVE_CONCURRENCY", 2, minimum=1),
            http_max_header_bytes=_int(env, "HTTP_MAX_HEADER_BYTES", 16 * 1024, minimum=1024),
            http_header_timeout_seconds=_float(env, "HTTP_HEADER_TIMEOUT_SECONDS", 10.0),
            http_keep_alive_seconds=_float(env, "HTTP_KEEP_ALIVE_SECONDS", 5.0),
            http_max_concurrency=_int(env, "HTTP_MAX_CONCURRENCY", 1000, minimum=1),
            webhook_allow_private_urls=_bool(env, "WEBHOOK_ALLOW_PRIVATE_URLS"),
            webhook_timeout_seconds=_float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0),
            worker_heartbeat_seconds=_float(env, "WORKER_HEARTBEAT_SECONDS", 30.0),
        )

    def require_authentication_setup(self) -> None:
        """Secure by default: no operator key means no server, unless auth is off on purpose."""
        if not self.admin_api_key and not self.auth_disabled:
            raise ConfigurationError(
                "ADMIN_API_KEY is not set. Set ADMIN_API_KEY to the operator's key, or switch"
                " authentication off explicitly for local development with --no-auth"
                " (AUTH_DISABLED=true)."
            )
