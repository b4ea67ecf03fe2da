"""Configuration from the environment: the contract's defaults; errors name the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from school_payments.settings import WORKERS_ENV, ConfigurationError, Settings


def test_an_empty_environment_gives_the_contract_s_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None  # the embedded SQLite file
    assert settings.redis_url is None  # the in-process cache
    assert settings.statement_cache_ttl_seconds == 60
    assert settings.admin_api_key is None
    assert settings.auth_disabled is False
    assert settings.log_level == "INFO"
    assert settings.workers == 1


def test_the_contract_s_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u:p@h/db",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "STATEMENT_CACHE_TTL_SECONDS": "0",
            "ADMIN_API_KEY": "operator-key",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings.database_url == "postgresql://u:p@h/db"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.statement_cache_ttl_seconds == 0
    assert settings.admin_api_key == "operator-key"
    assert settings.log_level == "DEBUG"


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "ADMIN_API_KEY": "",
            "STATEMENT_CACHE_TTL_SECONDS": "",
        }
    )
    assert (settings.database_url, settings.redis_url, settings.admin_api_key) == (None,) * 3
    assert settings.statement_cache_ttl_seconds == 60


def test_the_operator_key_never_appears_in_the_settings_repr() -> None:
    assert "operator-key-secret" not in repr(Settings(admin_api_key="operator-key-secret"))


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("STATEMENT_CACHE_TTL_SECONDS", "sixty"),
        ("STATEMENT_CACHE_TTL_SECONDS", "1.5"),
        ("STATEMENT_CACHE_TTL_SECONDS", "-1"),
        (WORKERS_ENV, "0"),
        ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "0"),
        ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "soon"),
        ("CIRCUIT_BREAKER_COOLDOWN_SECONDS", "-0.5"),
        ("REDIS_TIMEOUT_SECONDS", "nan"),
        ("DATABASE_POOL_SIZE", "ten"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "0"),
        ("API_KEY_CACHE_SECONDS", "5s"),
    ],
)
def test_a_malformed_number_is_refused_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: raw})


def test_numbers_with_surrounding_spaces_are_read() -> None:
    assert (
        Settings.from_env({"STATEMENT_CACHE_TTL_SECONDS": " 30 "}).statement_cache_ttl_seconds == 30
    )


def test_an_unknown_log_level_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
        Settings.from_env({"LOG_LEVEL": "verbose"})


@pytest.mark.parametrize(
    ("raw", "disabled"),
    [
        ("true", True),
        ("1", True),
        ("YES", True),
        (" on ", True),
        ("false", False),
        ("", False),
        ("0", False),
        ("nope", False),
    ],
)
def test_auth_disabled_is_switched_off_only_by_an_explicit_yes(raw: str, disabled: bool) -> None:
    assert Settings.from_env({"AUTH_DISABLED": raw}).auth_disabled is disabled


def test_without_an_operator_key_the_service_refuses_to_start_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_API_KEY"):
        Settings.from_env({}).require_authentication_setup()


def test_an_empty_operator_key_is_no_operator_key() -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_API_KEY"):
        Settings.from_env({"ADMIN_API_KEY": ""}).require_authentication_setup()


def test_with_an_operator_key_the_service_may_start() -> None:
    settings = Settings.from_env({"ADMIN_API_KEY": "operator-key"})
    settings.require_authentication_setup()  # raises nothing


def test_with_authentication_switched_off_explicitly_the_service_may_start_without_a_key() -> None:
    settings = Settings.from_env({"AUTH_DISABLED": "true"})
    settings.require_authentication_setup()  # raises nothing


# -- the documented defaults are the real ones ------------------------------------------------

_ROOT = Path(__file__).resolve().parents[2]
# The numeric settings whose defaults the README's table and .env.example both state.
_DOCUMENTED_NUMBERS = {
    "STATEMENT_CACHE_TTL_SECONDS": "statement_cache_ttl_seconds",
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD": "breaker_failure_threshold",
    "CIRCUIT_BREAKER_COOLDOWN_SECONDS": "breaker_cooldown_seconds",
    "REDIS_TIMEOUT_SECONDS": "redis_timeout_seconds",
    "DATABASE_POOL_SIZE": "database_pool_size",
    "DATABASE_STATEMENT_TIMEOUT_MS": "database_statement_timeout_ms",
    "API_KEY_CACHE_SECONDS": "api_key_cache_seconds",
    "TENANT_EXPENSIVE_CONCURRENCY": "tenant_expensive_concurrency",
    "EXPENSIVE_CONCURRENCY": "expensive_concurrency",
    "HTTP_MAX_HEADER_BYTES": "http_max_header_bytes",
    "HTTP_HEADER_TIMEOUT_SECONDS": "http_header_timeout_seconds",
    "HTTP_KEEP_ALIVE_SECONDS": "http_keep_alive_seconds",
    "HTTP_MAX_CONCURRENCY": "http_max_concurrency",
}


def _readme_defaults() -> dict[str, str]:
    row = re.compile(r"^\| `(?P<name>[A-Z_]+)` \|.*\| `(?P<default>[^`]+)` \|$", re.MULTILINE)
    text = (_ROOT / "README.md").read_text(encoding="utf-8")
    return {m["name"]: m["default"] for m in row.finditer(text)}


def _env_example_defaults() -> dict[str, str]:
    line = re.compile(r"^#? ?(?P<name>[A-Z_]+)=(?P<value>\S*)$", re.MULTILINE)
    text = (_ROOT / ".env.example").read_text(encoding="utf-8")
    return {m["name"]: m["value"] for m in line.finditer(text)}


@pytest.mark.parametrize("name", sorted(_DOCUMENTED_NUMBERS))
def test_the_readme_and_env_example_state_the_real_default(name: str) -> None:
    real = float(getattr(Settings.from_env({}), _DOCUMENTED_NUMBERS[name]))
    readme, example = _readme_defaults(), _env_example_defaults()
    assert name in readme, f"README's configuration table has no row for {name}"
    assert name in example, f".env.example does not name {name}"
    assert float(readme[name]) == real, f"README says {name}={readme[name]}, the code {real}"
    assert float(example[name]) == real, f".env.example: {name}={example[name]}, the code {real}"


def test_replicas_are_a_comma_separated_list_beside_a_postgresql_primary() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@primary/db",
            "DATABASE_REPLICA_URLS": "postgresql://u@r1/db, postgresql://u@r2/db,",
        }
    )
    assert settings.database_replica_urls == ("postgresql://u@r1/db", "postgresql://u@r2/db")
    assert Settings.from_env({}).database_replica_urls == ()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DATABASE_REPLICA_URLS": "postgresql://u@r1/db"}, "needs DATABASE_URL"),
        (
            {"DATABASE_URL": "postgresql://u@p/db", "DATABASE_REPLICA_URLS": "mysql://r/db"},
            "postgresql:// URLs",
        ),
    ],
)
def test_replicas_without_a_postgresql_primary_or_not_postgresql_are_refused(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_REPLICA_URLS") as raised:
        Settings.from_env(env)
    assert says in str(raised.value)
