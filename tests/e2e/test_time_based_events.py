"""`invoice.overdue` and `invoice.due_soon`: once per invoice and due date, at each school's own
midnight, even with several emitters at once; on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from school_payments.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from school_payments.application.reminders import EmitTimeBasedEvents
from tests.support.api import Api
from tests.support.clock import FixedClock

MEXICO = "America/Mexico_City"  # UTC−6 all year


def _emitter(api: Api, clock: FixedClock) -> EmitTimeBasedEvents:
    return EmitTimeBasedEvents(SqlUnitOfWorkFactory(api.assembly.database, clock), clock)


async def _timed(api: Api) -> list[dict[str, Any]]:
    found = []
    for kind in ("invoice.overdue", "invoice.due_soon"):
        response = await api.get(f"/api/v1/events?type={kind}&limit=200")
        found += response.json()["data"]
    return sorted(found, key=lambda e: e["id"])


async def test_overdue_fires_at_the_schools_own_midnight_once(api: Api, clock: FixedClock) -> None:
    clock.set(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))  # 06:00 on the 24th in Mexico City
    school = await api.school(timezone=MEXICO, reminder_days_before_due=None)
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], due_date="2026-11-24")
    emit = _emitter(api, clock)
    assert await emit() == 0  # due today is not overdue
    clock.set(datetime(2026, 11, 25, 5, 59, tzinfo=UTC))  # 23:59 on the 24th there
    assert await emit() == 0
    clock.set(datetime(2026, 11, 25, 6, 1, tzinfo=UTC))  # 00:01 on the 25th there
    assert await emit() == 1
    assert await emit() == 0
    clock.set(datetime(2026, 11, 27, 6, 1, tzinfo=UTC))
    assert await emit() == 0  # once, not every day
    (event,) = await _timed(api)
    assert event["type"] == "invoice.overdue"
    shown = event["data"]["object"]
    assert (shown["id"], shown["status"], shown["days_overdue"]) == (invoice["id"], "OVERDUE", 1)


async def test_due_soon_fires_the_configured_days_ahead_and_a_new_due_date_rearms_both(
    api: Api, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    school = await api.school(reminder_days_before_due=3)
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], due_date="2026-11-24")
    emit = _emitter(api, clock)
    assert await emit() == 0  # 4 days ahead
    clock.set(datetime(2026, 11, 21, 0, 1, tzinfo=UTC))
    assert await emit() == 1  # 3 days ahead
    assert await emit() == 0
    clock.set(datetime(2026, 11, 25, 0, 1, tzinfo=UTC))
    assert await emit() == 1  # overdue
    moved = await api.patch(f"/api/v1/invoices/{invoice['id']}", json={"due_date": "2026-11-26"})
    assert moved.status_code == 200
    assert await emit() == 1  # due soon again, for the new date
    clock.set(datetime(2026, 11, 27, 0, 1, tzinfo=UTC))
    assert await emit() == 1  # and overdue again
    kinds = [(e["type"], e["data"]["object"]["due_date"]) for e in await _timed(api)]
    assert kinds == [
        ("invoice.due_soon", "2026-11-24"),
        ("invoice.overdue", "2026-11-24"),
        ("invoice.due_soon", "2026-11-26"),
        ("invoice.overdue", "2026-11-26"),
    ]


async def test_paid_and_cancelled_invoices_are_not_announced(api: Api, clock: FixedClock) -> None:
    school = await api.school(reminder_days_before_due=None)
    student = await api.student(school["id"])
    paid = await api.invoice(student["id"], amount=100, due_date="2026-11-01")
    await api.payment(paid["id"], amount=100)
    cancelled = await api.invoice(student["id"], due_date="2026-11-01")
    await api.post(f"/api/v1/invoices/{cancelled['id']}/cancel")
    assert await _emitter(api, clock)() == 0


async def test_four_emitters_at_once_emit_each_event_once(api: Api, clock: FixedClock) -> None:
    school = await api.school(reminder_days_before_due=60)
    student = await api.student(school["id"])
    for day in range(1, 21):
        await api.invoice(student["id"], due_date=f"2026-11-{day:02d}")  # overdue
        await api.invoice(student["id"], due_date=f"2026-12-{day:02d}")  # due soon
    emitters = [_emitter(api, clock) for _ in range(4)]
    counts = await asyncio.gather(*(emit() for emit in emitters))
    assert sum(counts) == 40
    events = await _timed(api)
    assert len(events) == 40
    assert len({e["data"]["object"]["id"] for e in events}) == 40


async def test_the_reminder_field_of_a_school(api: Api) -> None:
    school = await api.school()
    assert school["reminder_days_before_due"] == 3
    path = f"/api/v1/schools/{school['id']}"
    off = await api.patch(path, json={"reminder_days_before_due": None})
    assert off.json()["reminder_days_before_due"] is None
    on = await api.patch(path, json={"reminder_days_before_due": 60})
    assert on.json()["reminder_days_before_due"] == 60
    assert (await api.get(path)).json()["reminder_days_before_due"] == 60


@pytest.mark.parametrize("value", [-1, 61, "3", 3.0, True])
async def test_a_reminder_field_out_of_0_to_60_is_refused(api: Api, value: object) -> None:
    created = await api.post(
        "/api/v1/schools", json={"name": "X", "reminder_days_before_due": value}
    )
    assert created.status_code == 422, created.text
    school = await api.school()
    patched = await api.patch(
        f"/api/v1/schools/{school['id']}", json={"reminder_days_before_due": value}
    )
    assert patched.status_code == 422, patched.text
