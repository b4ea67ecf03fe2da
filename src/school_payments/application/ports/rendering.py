from __future__ import annotations

from typing import Protocol

from school_payments.application.read_models import SchoolStatement, StudentStatement


class StatementRenderer(Protocol):
    """Turns statements into the document the API serves (and the cache keeps)."""

    @property
    def shape(self) -> str:
        """Names the shape of the documents it writes, and changes whenever that shape does:
        statement cache keys carry it, so a document of another shape is never served."""
        ...

    def student(self, statement: StudentStatement) -> bytes: ...

    def school(self, statement: SchoolStatement) -> bytes: ...
