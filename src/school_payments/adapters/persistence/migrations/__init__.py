"""Alembic migrations, run by `school-payments migrate` (never implicitly by `serve`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

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


def revisions() -> tuple[str, list[str]]:
    """The head revision of the migrations this package ships, and every revision it knows."""
    script = ScriptDirectory.from_config(alembic_config(None))
    head = script.get_current_head()
    assert head is not None, "the package ships no migrations"
    return head, [revision.revision for revision in script.walk_revisions()]
