"""Whether the database's schema is the one this code expects: alembic's head revision."""

from __future__ import annotations

import logging
import time

from school_payments.adapters.persistence.database import Database
from school_payments.application.ports.limits import SchemaState

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0
"""While behind, how long one answer holds: `migrate` may run at any moment, and then the
service becomes ready without a restart; meanwhile requests do not each cost a query."""


class SqlSchemaProbe:
    """Compares the database's alembic revision with the head of the package's migrations.

    A revision this code does not know is newer than it (a rolling deploy: the database was
    migrated for the next version first) and is accepted; a known older revision, or none, is
    `behind`. Once seen up to date, the schema is not checked again (it never goes back).
    """

    def __init__(self, database: Database, head: str, known: list[str]) -> None:
        self._database = database
        self._head = head
        self._older = frozenset(known) - {head}
        self._up_to_date = False
        self._checked_at = float("-inf")
        self._last: SchemaState = "behind"
        self._warned = False

    async def state(self) -> SchemaState:
        if self._up_to_date:
            return "ok"
        now = time.monotonic()
        if now - self._checked_at < RECHECK_SECONDS:
            return self._last
        current = await self._database.schema_revision()
        self._checked_at = now
        if current is None or current in self._older:
            self._last = "behind"
            if not self._warned:
                self._warned = True
                log.warning(
                    "the database schema is behind this code: run `school-payments migrate`",
                    extra={"schema_revision": current, "expected_revision": self._head},
                )
            return "behind"
        self._up_to_date = True
        self._last = "ok"
        return "ok"
