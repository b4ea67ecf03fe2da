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

    def __init__(
        self,
        detail: str = "another request took over this Idempotency-Key; nothing was changed,"
        " retry in a moment",
    ) -> None:
        super().__init__(detail)
        self.detail = detail


class IdempotencyKeyReusedError(Exception):
    """The Idempotency-Key was first used for a different request (method, path or body)."""

    def __init__(
        self,
        detail: str = "this Idempotency-Key was already used for a different request;"
        " send a new key for a new request",
    ) -> None:
        super().__init__(detail)
        self.detail = detail


class IdempotencyKeyInUseError(Exception):
    """The first request with this Idempotency-Key is still running."""

    def __init__(
        self,
        detail: str = "a request with this Idempotency-Key is still being processed;"
        " retry in a moment",
    ) -> None:
        super().__init__(detail)
        self.detail = detail
