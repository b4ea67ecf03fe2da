"""Days as a school sees them: today, the end of a day, overdue and aging."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_payments.domain.calendar import (
    AgingBucket,
    aging_boundaries,
    aging_bucket,
    days_past_due,
    end_of_day,
    ensure_not_in_future,
    latest_today,
    statement_day,
    today_in,
    validate_timezone,
    zone,
)
from school_payments.domain.errors import (
    InvalidValueError,
    TimestampInFutureError,
    UnknownTimezoneError,
)

ZONES = [
    "UTC",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "America/Santiago",
    "America/Mexico_City",
    "America/Havana",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
]

instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
days = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- today --------------------------------------------------------------------------------------


def test_at_the_same_instant_kiritimati_and_pago_pago_live_on_different_days() -> None:
    now = utc(2026, 11, 24, 12, 0)
    assert today_in("Pacific/Kiritimati", now) == date(2026, 11, 25)
    assert today_in("Pacific/Pago_Pago", now) == date(2026, 11, 24)


def test_for_one_hour_a_day_kiritimati_is_two_calendar_days_ahead_of_pago_pago() -> None:
    now = utc(2026, 11, 24, 10, 30)
    assert today_in("Pacific/Kiritimati", now) == date(2026, 11, 25)
    assert today_in("Pacific/Pago_Pago", now) == date(2026, 11, 23)


def test_today_in_utc_is_the_utc_date() -> None:
    assert today_in("UTC", utc(2026, 11, 24, 23, 59)) == date(2026, 11, 24)


def test_mexico_city_is_still_yesterday_in_the_early_utc_morning() -> None:
    assert today_in("America/Mexico_City", utc(2026, 11, 25, 5, 59)) == date(2026, 11, 24)
    assert today_in("America/Mexico_City", utc(2026, 11, 25, 6, 0)) == date(2026, 11, 25)


@given(now=instants, name=st.sampled_from(ZONES))
def test_no_school_s_today_is_later_than_the_latest_today_on_earth(
    now: datetime, name: str
) -> None:
    assert today_in(name, now) <= latest_today(now)


@given(now=st.datetimes(datetime(1996, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_the_latest_today_on_earth_is_kiritimati_s_since_it_moved_to_utc_plus_14(
    now: datetime,
) -> None:
    assert latest_today(now) == today_in("Pacific/Kiritimati", now)


# -- time zones ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "utc+3", "America/mexico_city", "EST 5"])
def test_an_unknown_time_zone_is_refused(name: str) -> None:
    with pytest.raises(UnknownTimezoneError) as refused:
        validate_timezone(name)
    assert refused.value.field == "timezone"


def test_today_in_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(UnknownTimezoneError):
        today_in("Nowhere/Special", utc(2026, 1, 1))


def test_a_known_time_zone_is_accepted_as_given() -> None:
    assert validate_timezone("America/Santiago") == "America/Santiago"
    assert zone("Europe/Berlin").key == "Europe/Berlin"


# -- the end of a day ---------------------------------------------------------------------------


def test_the_end_of_a_day_in_utc_is_the_next_midnight() -> None:
    assert end_of_day(date(2026, 11, 24), "UTC") == utc(2026, 11, 25)


@pytest.mark.parametrize(
    ("day", "end", "hours"),
    [
        # Winter → summer: the next day's midnight does not exist; the day starts at 01:00 −03.
        (date(2026, 9, 5), utc(2026, 9, 6, 4), 24),
        (date(2026, 9, 6), utc(2026, 9, 7, 3), 23),
        # Summer → winter: 23:00–24:00 is lived twice on 4 April, a day of 25 hours.
        (date(2026, 4, 3), utc(2026, 4, 4, 3), 24),
        (date(2026, 4, 4), utc(2026, 4, 5, 4), 25),
    ],
)
def test_santiago_days_end_at_the_first_instant_of_the_next_day_across_dst(
    day: date, end: datetime, hours: int
) -> None:
    assert end_of_day(day, "America/Santiago") == end
    assert end - end_of_day(day - timedelta(days=1), "America/Santiago") == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("day", "end", "hours"),
    [
        (date(2026, 3, 28), utc(2026, 3, 28, 23), 24),
        (date(2026, 3, 29), utc(2026, 3, 29, 22), 23),
        (date(2026, 10, 24), utc(2026, 10, 24, 22), 24),
        (date(2026, 10, 25), utc(2026, 10, 25, 23), 25),
    ],
)
def test_berlin_days_are_23_and_25_hours_long_at_the_dst_changes(
    day: date, end: datetime, hours: int
) -> None:
    assert end_of_day(day, "Europe/Berlin") == end
    assert end - end_of_day(day - timedelta(days=1), "Europe/Berlin") == timedelta(hours=hours)


def test_where_midnight_is_lived_twice_the_day_ends_at_its_first_occurrence() -> None:
    # Havana falls back from 01:00 to 00:00 on 1 November 2026.
    assert end_of_day(date(2026, 10, 31), "America/Havana") == utc(2026, 11, 1, 4)


def test_the_end_of_the_last_representable_day_does_not_overflow() -> None:
    assert end_of_day(date.max, "Pacific/Kiritimati") == datetime.max.replace(tzinfo=UTC)


@given(now=instants, name=st.sampled_from(ZONES))
def test_every_instant_lies_between_the_end_of_yesterday_and_the_end_of_today(
    now: datetime, name: str
) -> None:
    today = today_in(name, now)
    assert end_of_day(today - timedelta(days=1), name) <= now < end_of_day(today, name)
    assert end_of_day(today, name).tzinfo == UTC


# -- timestamps from clients --------------------------------------------------------------------


def test_a_timestamp_up_to_five_seconds_ahead_is_tolerated_as_clock_skew() -> None:
    now = utc(2026, 11, 24, 12)
    for ahead in (timedelta(0), timedelta(seconds=5)):
        assert ensure_not_in_future(now + ahead, now, "paid_at") == now + ahead


def test_a_timestamp_in_the_past_is_accepted() -> None:
    now = utc(2026, 11, 24, 12)
    assert ensure_not_in_future(now - timedelta(days=400), now, "issued_at") < now


def test_a_timestamp_more_than_five_seconds_ahead_is_refused_naming_its_field() -> None:
    now = utc(2026, 11, 24, 12)
    with pytest.raises(TimestampInFutureError) as refused:
        ensure_not_in_future(now + timedelta(seconds=5, microseconds=1), now, "paid_at")
    assert refused.value.field == "paid_at"


# -- overdue and aging --------------------------------------------------------------------------


def test_days_past_due_count_from_the_due_date() -> None:
    due = date(2026, 11, 1)
    assert days_past_due(due, date(2026, 11, 1)) == 0
    assert days_past_due(due, date(2026, 11, 2)) == 1
    assert days_past_due(due, date(2026, 10, 31)) == -1


@pytest.mark.parametrize(
    ("days_late", "bucket"),
    [
        (-400, AgingBucket.CURRENT),
        (-1, AgingBucket.CURRENT),
        (0, AgingBucket.CURRENT),
        (1, AgingBucket.DAYS_1_30),
        (30, AgingBucket.DAYS_1_30),
        (31, AgingBucket.DAYS_31_60),
        (60, AgingBucket.DAYS_31_60),
        (61, AgingBucket.DAYS_61_90),
        (90, AgingBucket.DAYS_61_90),
        (91, AgingBucket.OVER_90),
        (5000, AgingBucket.OVER_90),
    ],
)
def test_aging_buckets_follow_the_contract_s_boundaries(
    days_late: int, bucket: AgingBucket
) -> None:
    assert aging_bucket(days_late) is bucket


def test_aging_buckets_carry_the_contract_s_names() -> None:
    assert [b.value for b in AgingBucket] == ["current", "1_30", "31_60", "61_90", "over_90"]


def _bucket_by_boundaries(due: date, day: date) -> AgingBucket:
    start_1_30, start_31_60, start_61_90 = aging_boundaries(day)
    if due >= day:
        return AgingBucket.CURRENT
    if due >= start_1_30:
        return AgingBucket.DAYS_1_30
    if due >= start_31_60:
        return AgingBucket.DAYS_31_60
    if due >= start_61_90:
        return AgingBucket.DAYS_61_90
    return AgingBucket.OVER_90


@given(day=days, due=days)
def test_aging_boundaries_put_every_due_date_in_the_same_bucket_as_day_arithmetic(
    day: date, due: date
) -> None:
    assert _bucket_by_boundaries(due, day) is aging_bucket(days_past_due(due, day))


@given(day=days, offset=st.integers(min_value=-200, max_value=200))
def test_aging_boundaries_agree_around_the_bucket_edges(day: date, offset: int) -> None:
    try:
        due = day + timedelta(days=offset)
    except OverflowError:
        return
    assert _bucket_by_boundaries(due, day) is aging_bucket(-offset)


# -- the day a statement is judged on -----------------------------------------------------------


def test_a_statement_without_as_of_is_judged_on_the_school_s_today() -> None:
    now = utc(2026, 11, 24, 12)
    assert statement_day(None, "Pacific/Kiritimati", now) == date(2026, 11, 25)


def test_a_statement_as_of_today_or_earlier_is_judged_on_that_day() -> None:
    now = utc(2026, 11, 24, 12)
    assert statement_day(date(2026, 11, 24), "UTC", now) == date(2026, 11, 24)
    assert statement_day(date(2020, 2, 29), "UTC", now) == date(2020, 2, 29)


def test_a_statement_as_of_a_day_after_the_school_s_today_is_refused() -> None:
    now = utc(2026, 11, 24, 12)
    # 25 November is already today in Kiritimati, but not yet in Pago Pago.
    assert statement_day(date(2026, 11, 25), "Pacific/Kiritimati", now) == date(2026, 11, 25)
    with pytest.raises(InvalidValueError) as refused:
        statement_day(date(2026, 11, 25), "Pacific/Pago_Pago", now)
    assert refused.value.field == "as_of"
