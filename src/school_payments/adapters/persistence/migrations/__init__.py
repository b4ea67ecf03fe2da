"""Alembic migrations, run by `school-payments migrate` (never implicitly by `serve`).

Alembic (and Mako under it, ~20 MB per process) is imported only to migrate: the serving
processes learn which revisions this package ships by reading the version files' `revision`
and `down_revision` assignments (`revisions()`), which a test holds to Alembic's own reading.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from school_payments.adapters.persistence.database import normalize_url

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(url: str | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str | None, revision: str = "head") -> None:
    """Brings the database at `url` to `revision` (creating the SQLite file if needed)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


@functools.cache
def revisions() -> tuple[str, list[str]]:
    """The head revision of the migrations this package ships, and every revision it knows
    (newest first, as Alembic walks them)."""
    parents: dict[str, str | None] = {}
    for path in sorted((HERE / "versions").glob("*.py")):
        assigned = _assignments(path)
        if "revision" in assigned:
            parents[str(assigned["revision"])] = assigned.get("down_revision")
    heads = set(parents) - set(parents.values())
    assert len(heads) == 1, f"the migrations must have one head, not {sorted(heads)}"
    chain: list[str] = []
    current: str | None = heads.pop()
    while current is not None:
        chain.append(current)
        current = parents[current]
    return chain[0], chain


def _assignments(path: Path) -> dict[str, str | None]:
    """The module-level `name = "literal"` assignments of a version file."""
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str | None):
                    found[target.id] = node.value.value
    return found
