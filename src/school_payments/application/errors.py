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


class QueryTimeoutError(DatabaseUnavailableError):
    """A query ran past the statement timeout: the database is up but too busy for this now."""

    def __init__(
        self,
        detail: str = "the query ran past the database's statement timeout; nothing was"
        " changed, retry in a moment (or ask for less: an earlier as_of, a smaller page)",
    ) -> None:
        super().__init__(detail)


class SchemaNotReadyError(Exception):
    """The database's schema is older than this code: its migrations have not been applied."""

    def __init__(
        self,
        detail: str = "the database schema is older than this version of the service;"
        " an operator must run `school-payments migrate`",
    ) -> None:
        super().__init__(detail)
        self.detail = detail


class TenantBusyError(Exception):
    """The caller's school already runs its share of expensive work (statements, documents)."""

    def __init__(self, limit: int, retry_after_seconds: int = 1) -> None:
        self.detail = (
            f"this school already has {limit} statements or documents in progress, its share;"
            f" retry after {retry_after_seconds} s, or send fewer at once"
        )
        super().__init__(self.detail)
        self.retry_after_seconds = retry_after_seconds
