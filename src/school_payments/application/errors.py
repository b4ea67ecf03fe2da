"""Failures of the use cases that are not business rules: authorization and infrastructure."""

from __future__ import annotations


class ForbiddenError(Exception):
    """The caller is authenticated but may not perform this action (e.g. a school managing keys)."""

    def __init__(self, detail: str = "this API key may not perform this action") -> None:
        super().__init__(detail)
        self.detail = detail


class DatabaseUnavailableError(Exception):
    """The database could not be reached or did not answer in time; nothing was changed."""

    def __init__(self, detail: str = "the database is unavailable; retry later") -> None:
        super().__init__(detail)
        self.detail = detail


class IdempotencyClaimLostError(Exception):
    """Another request took over this idempotency key; this request's work was rolled back."""
