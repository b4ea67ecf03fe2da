"""Statements against an independent oracle, for a random seeded workload, on both databases."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.clock import FixedClock
from tests.support.ledger import InvoiceFact, Ledger

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)  # already the 24th's evening in Mexico City


async def _random_school(api: Api, clock: FixedClock, seed: int) -> tuple[str, Ledger]:
    """A school whose history the test chooses at random (and records in the ledger)."""
    rng = random.Random(seed)
    clock.set(NOW - timedelta(days=200))
    school = await api.school(timezone="America/Mexico_City", default_currency="MXN")
    ledger = Ledger("America/Mexico_City")
    today = ledger.day_of(NOW)
    for n in range(7):
        student = await api.student(school["id"], first_name=f"S{n}")
        ledger.students.append(student["id"])
        for _ in range(rng.randint(0 if n == 6 else 3, 0 if n == 6 else 9)):  # S6 has no invoices
            issued = NOW - timedelta(days=rng.randint(0, 150), minutes=rng.randint(0, 1440))
            clock.set(issued)
            currency = rng.choice(["MXN", "MXN", "USD"])
            due = today + timedelta(days=rng.randint(-100, 60))
            amount = rng.randint(1, 500_000)
            invoice = await api.invoice(
                student["id"], amount=amount, currency=currency, due_date=due.isoformat()
            )
            fact = InvoiceFact(invoice["id"], student["id"], currency, amount, due, issued)
            ledger.invoices[fact.id] = fact
            roll = rng.random()
            if roll < 0.12:
                clock.set(issued + timedelta(days=rng.randint(0, 30)))
                clock.set(min(clock.now(), NOW))
                await api.post(f"/api/v1/invoices/{fact.id}/cancel")
                fact.cancelled_at = clock.now()
                continue
            remaining = amount
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                if remaining == 0:
                    break
                part = remaining if rng.random() < 0.4 else rng.randint(1, remaining)
                paid_at = min(
                    issued + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23)), NOW
                )
                clock.set(NOW)
                payment = await api.payment(fact.id, amount=part, paid_at=paid_at.isoformat())
                fact.payments.append((payment["id"], part, paid_at))
                remaining -= part
    clock.set(NOW)
    return school["id"], ledger


def _lines_view(statement: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": i["id"],
            "currency": i["currency"],
            "amount": i["amount"],
            "amount_paid": i["amount_paid"],
            "amount_remaining": i["amount_remaining"],
            "status": i["status"],
            "days_overdue": i["days_overdue"],
            "payment_ids": [p["id"] for p in i["payments"]],
        }
        for i in statement["invoices"]
    ]


def _without_internal(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in x.items() if k != "late_days"} for x in lines]


async def _school_pages(
    api: Api, school_id: str, query: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    students: list[dict[str, Any]] = []
    cursor = None
    first: dict[str, Any] | None = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        response = await api.get(f"/api/v1/schools/{school_id}/statement?limit=3{query}{suffix}")
        assert response.status_code == 200, response.text
        page = response.json()
        first = first or page
        assert page["totals"] == first["totals"]  # totals cover the school on every page
        students += page["students"]["data"]
        cursor = page["students"]["next_cursor"]
        if cursor is None:
            return first, students


@pytest.mark.parametrize("seed", [7, 2026, 31337])
async def test_statements_match_the_oracle_today_and_as_of_past_days(
    api: Api, clock: FixedClock, seed: int
) -> None:
    school_id, ledger = await _random_school(api, clock, seed)
    today = ledger.day_of(NOW)
    days: list[date | None] = [
        None,
        today,
        *(today - timedelta(days=n) for n in (1, 9, 31, 64, 120, 190)),
    ]
    for day in days:
        query = f"&as_of={day.isoformat()}" if day else ""
        judged = day or today
        cutoff = ledger.cutoff(day) if day else None

        for student_id in ledger.students:
            response = await api.get(f"/api/v1/students/{student_id}/statement?{query[1:]}")
            assert response.status_code == 200
            statement = response.json()
            assert statement["as_of"] == judged.isoformat()
            expected_lines = ledger.lines(student_id, judged, cutoff)
            assert _lines_view(statement) == _without_internal(expected_lines), (day, student_id)
            assert statement["totals"] == ledger.totals(expected_lines), (day, student_id)

        school, students = await _school_pages(api, school_id, query)
        assert school["as_of"] == judged.isoformat()
        assert school["totals"] == ledger.school_totals(judged, cutoff), day
        # Every student exactly once, in creation order, those without invoices included.
        assert [s["student_id"] for s in students] == ledger.students
        for line in students:
            expected = ledger.totals(
                ledger.lines(line["student_id"], judged, cutoff), detailed=False
            )
            assert line["totals"] == expected, (day, line["student_id"])
        # The school's totals are the sum of its students' totals.
        for entry in school["totals"]:
            for figure in ("invoiced", "paid", "outstanding", "overdue", "invoice_count"):
                assert entry[figure] == sum(
                    t[figure]
                    for s in students
                    for t in s["totals"]
                    if t["currency"] == entry["currency"]
                )


async def test_a_statement_as_of_a_past_day_ignores_later_invoices_and_payments(
    api: Api, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 10, 1, 15, tzinfo=UTC))
    school = await api.school(timezone="UTC")
    student = await api.student(school["id"])
    early = await api.invoice(student["id"], amount=1_000, due_date="2026-10-15")
    await api.payment(early["id"], amount=400)
    clock.set(datetime(2026, 11, 2, 9, tzinfo=UTC))
    await api.payment(early["id"], amount=600)
    later = await api.invoice(student["id"], amount=5_000, due_date="2026-11-30")
    clock.set(NOW)

    october = (await api.get(f"/api/v1/students/{student['id']}/statement?as_of=2026-10-31")).json()
    assert [i["id"] for i in october["invoices"]] == [early["id"]]
    line = october["invoices"][0]
    assert (line["amount_paid"], line["status"], line["days_overdue"]) == (400, "OVERDUE", 16)
    assert october["totals"][0]["outstanding"] == 600
    assert october["totals"][0]["aging"]["1_30"] == 600

    now = (await api.get(f"/api/v1/students/{student['id']}/statement")).json()
    assert [i["id"] for i in now["invoices"]] == [early["id"], later["id"]]
    assert now["invoices"][0]["status"] == "PAID"


async def test_an_as_of_day_after_the_schools_today_is_refused(api: Api) -> None:
    # 12:00 UTC on the 24th: already the 25th in Kiritimati, still the 24th in Pago Pago.
    east = await api.school(timezone="Pacific/Kiritimati")
    west = await api.school(timezone="Pacific/Pago_Pago")
    east_student = await api.student(east["id"])
    west_student = await api.student(west["id"])
    ok = await api.get(f"/api/v1/students/{east_student['id']}/statement?as_of=2026-11-25")
    assert ok.status_code == 200
    refused = await api.get(f"/api/v1/students/{west_student['id']}/statement?as_of=2026-11-25")
    assert refused.status_code == 422
    nowhere = await api.get(f"/api/v1/schools/{west['id']}/statement?as_of=2026-11-26")
    assert nowhere.status_code == 422
    for bad in ("2026-11", "24-11-2026", "2026-02-30", "tomorrow"):
        response = await api.get(f"/api/v1/schools/{east['id']}/statement?as_of={bad}")
        assert response.status_code == 422, bad


async def test_a_due_date_of_yesterday_is_overdue_in_kiritimati_but_not_yet_in_pago_pago(
    api: Api, clock: FixedClock
) -> None:
    clock.set(
        datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    )  # Kiritimati: 25th 01:00; Pago Pago: 24th 00:00
    east = await api.school(timezone="Pacific/Kiritimati", default_currency="USD")
    west = await api.school(timezone="Pacific/Pago_Pago", default_currency="USD")
    for school, expected in ((east, "OVERDUE"), (west, "PENDING")):
        student = await api.student(school["id"])
        await api.invoice(student["id"], amount=100, due_date="2026-11-24")
        statement = (await api.get(f"/api/v1/students/{student['id']}/statement")).json()
        assert statement["invoices"][0]["status"] == expected
        totals = statement["totals"][0]
        assert totals["overdue"] == (100 if expected == "OVERDUE" else 0)
        school_statement = (await api.get(f"/api/v1/schools/{school['id']}/statement")).json()
        assert school_statement["totals"][0]["status_counts"][expected] == 1


async def test_cancelled_invoices_are_listed_but_counted_in_no_amount(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    only = await api.invoice(student["id"], currency="EUR", amount=700)
    await api.post(f"/api/v1/invoices/{only['id']}/cancel")
    statement = (await api.get(f"/api/v1/students/{student['id']}/statement")).json()
    assert statement["invoices"][0]["status"] == "CANCELLED"
    assert statement["totals"] == [
        {
            "currency": "EUR",
            "invoiced": 0,
            "paid": 0,
            "outstanding": 0,
            "overdue": 0,
            "invoice_count": 1,
            "status_counts": {
                "PENDING": 0,
                "PARTIALLY_PAID": 0,
                "PAID": 0,
                "OVERDUE": 0,
                "CANCELLED": 1,
            },
            "aging": {"current": 0, "1_30": 0, "31_60": 0, "61_90": 0, "over_90": 0},
        }
    ]
    school_totals = (await api.get(f"/api/v1/schools/{school['id']}/statement")).json()["totals"]
    assert school_totals[0]["student_count"] == 1
    assert school_totals[0]["invoiced"] == 0


async def test_statements_of_missing_owners_are_not_found(api: Api) -> None:
    missing = "01a20c0e-3763-70c0-8427-b70767570684"
    for path in (
        f"/api/v1/students/{missing}/statement",
        f"/api/v1/schools/{missing}/statement",
        "/api/v1/schools/x/statement",
    ):
        response = await api.get(path)
        assert response.status_code == 404
        assert "x-cache" not in response.headers
