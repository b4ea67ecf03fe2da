"""Days as a school sees them: "today", the end of a day, and how late a due date is.

Overdue is judged on the calendar day in the school's own time zone, never the server's.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, available_timezones

from school_payments.domain.errors import (
    InvalidValueError,
    TimestampInFutureError,
    UnknownTimezoneError,
)

CLOCK_SKEW_TOLERANCE = timedelta(seconds=5)
"""How far in the future a client's `issued_at` / `paid_at` may lie (its clock may run ahead)."""

EARLIEST_OFFSET = timedelta(hours=14)
"""UTC+14 (Pacific/Kiritimati): no school's calendar day is later than UTC's day at this offset."""


NOT_IANA_ZONES = frozenset({"localtime", "Factory", "posixrules"})
"""Names the system's zone directory holds that are no place's time: `localtime` is the host's
own setting, `Factory` a placeholder zone ("-00"), `posixrules` a template for POSIX TZ strings."""


@functools.cache
def _timezone_names() -> frozenset[str]:
    # Every zone and backward-compatible link of the IANA database (`US/Eastern` included).
    return frozenset(available_timezones()) - NOT_IANA_ZONES


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (an IANA name such as `America/Mexico_City`)."""
    if name not in _timezone_names():
        raise UnknownTimezoneError(name)
    return ZoneInfo(name)


def validate_timezone(name: str) -> str:
    zone(name)
    return name


def today_in(timezone: str, now: datetime) -> date:
    """The calendar day it is in `timezone` at the instant `now`."""
    return now.astimezone(zone(timezone)).date()


def latest_today(now: datetime) -> date:
    """The latest calendar day it is anywhere on Earth at `now`; no school can be past it."""
    return (now.astimezone(UTC) + EARLIEST_OFFSET).date()


def end_of_day(day: date, timezone: str) -> datetime:
    """The first instant (UTC) after `day` ends in `timezone`: the exclusive cut-off of `day`."""
    if day >= date.max:
        return datetime.max.replace(tzinfo=UTC)
    next_midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone(timezone))
    return next_midnight.astimezone(UTC)


def ensure_not_in_future(moment: datetime, now: datetime, field: str) -> datetime:
    """Refuses a timestamp later than now (allowing a few seconds of client clock skew)."""
    if moment > now + CLOCK_SKEW_TOLERANCE:
        raise TimestampInFutureError(field)
    return moment


def days_past_due(due_date: date, day: date) -> int:
    """How many days `day` lies after `due_date` (0 or negative: not yet late)."""
    return (day - due_date).days


class AgingBucket(StrEnum):
    """Where outstanding money falls by days past due: `current` is not yet late."""

    CURRENT = "current"
    DAYS_1_30 = "1_30"
    DAYS_31_60 = "31_60"
    DAYS_61_90 = "61_90"
    OVER_90 = "over_90"


def aging_bucket(days: int) -> AgingBucket:
    if days <= 0:
        return AgingBucket.CURRENT
    if days <= 30:
        return AgingBucket.DAYS_1_30
    if days <= 60:
        return AgingBucket.DAYS_31_60
    if days <= 90:
        return AgingBucket.DAYS_61_90
    return AgingBucket.OVER_90


def aging_boundaries(day: date) -> tuple[date, date, date]:
    """The due dates where the 1–30, 31–60 and 61–90 buckets start (inclusive lower bounds).

    A due date on or after `day` is current; on or after `day − 30` (and before `day`) is 1–30;
    on or after `day − 60` is 31–60; on or after `day − 90` is 61–90; earlier is over 90. Queries
    compare due dates with these instead of doing date arithmetic, which is not portable SQL.
    """

    def back(days: int) -> date:
        return day - timedelta(days=days) if day.toordinal() > days else date.min

    return back(30), back(60), back(90)


def statement_day(as_of: date | None, timezone: str, now: datetime) -> date:
    """The day a statement is judged on: `as_of`, or today; a day after today is refused."""
    today = today_in(timezone, now)
    if as_of is None:
        return today
    if as_of > today:
        raise InvalidValueError("as_of", "as_of may not be after today in the school's time zone")
    return as_of
