"""Alembic migrations, run by `school-payments migrate` (never implicitly by `serve`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from school_payments.adapters.persistence.database import normalize_url

HERE = Path(__file__).parent


def alembic_config(url: str | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str | None, revision: str = "head") -> None:
    """Brings the database at `url` to `revision` (creating the SQLite file if needed)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
