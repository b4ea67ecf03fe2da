from __future__ import annotations

from typing import Protocol

from school_payments.application.read_models import SchoolStatement, StudentStatement


class StatementRenderer(Protocol):
    """Turns statements into the document the API serves (and the cache keeps)."""

    def student(self, statement: StudentStatement) -> bytes: ...

    def school(self, statement: SchoolStatement) -> bytes: ...
