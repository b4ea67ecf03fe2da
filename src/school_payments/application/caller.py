"""Who is asking, and which schools they may see: the tenancy every port call carries."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from school_payments.application.errors import ForbiddenError
from school_payments.domain.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class Scope:
    """The schools visible to a caller: exactly one, or all of them (`school_id is None`)."""

    school_id: UUID | None

    def allows(self, school_id: UUID) -> bool:
        return self.school_id is None or self.school_id == school_id

    def require(self, school_id: UUID, resource: str, resource_id: UUID) -> None:
        """Another school's resource is reported exactly as a missing one."""
        if not self.allows(school_id):
            raise NotFoundError(resource, resource_id)


EVERY_SCHOOL = Scope(None)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the operator (every school) or one school's API key."""

    key_id: str
    """Stable id of the credential; it scopes idempotency keys (two schools may reuse a key)."""
    school_id: UUID | None

    @property
    def is_operator(self) -> bool:
        return self.school_id is None

    @property
    def scope(self) -> Scope:
        return Scope(self.school_id)

    def ensure_operator(self) -> None:
        """Operator-only actions (schools, API keys) are refused to school keys, whatever the
        target."""
        if not self.is_operator:
            raise ForbiddenError()


OPERATOR = Caller(key_id="operator", school_id=None)
ANONYMOUS_OPERATOR = Caller(key_id="anonymous", school_id=None)
"""The caller when authentication is switched off explicitly (development only)."""
