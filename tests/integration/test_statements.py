"""Statements against an independent oracle, for a random seeded workload, on both databases."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.clock import FixedClock
from tests.support.ledger import CreditFact, InvoiceFact, Ledger, Record

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)  # already the 24th's evening in Mexico City


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random() if end > start else end


async def _random_school(api: Api, clock: FixedClock, seed: int) -> tuple[str, Ledger]:
    """A school whose history the test chooses at random (and records in the ledger): invoices,
    payments, refunds, credit notes, cancellations, student payments leaving credit, payments
    from credit and payouts, each at a business time of the past."""
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
            if rng.random() < 0.12:
                clock.set(min(issued + timedelta(days=rng.randint(0, 30)), NOW))
                await api.post(f"/api/v1/invoices/{fact.id}/cancel")
                fact.cancelled_at = clock.now()
                continue
            await _pay_credit_and_refund(api, clock, rng, fact)
    for student_id in ledger.students[:6]:
        if rng.random() < 0.6:
            await _student_payment(api, clock, rng, ledger, student_id)
    clock.set(NOW)
    return school["id"], ledger


async def _pay_credit_and_refund(
    api: Api, clock: FixedClock, rng: random.Random, fact: InvoiceFact
) -> None:
    """Payments, then perhaps a credit note, refunds of some payments and, when every payment
    went back, a cancellation."""
    clock.set(NOW)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        if fact.remaining() == 0:
            break
        left = fact.remaining()
        part = left if rng.random() < 0.4 else rng.randint(1, left)
        paid_at = min(
            fact.issued_at + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23)), NOW
        )
        payment = await api.payment(fact.id, amount=part, paid_at=paid_at.isoformat())
        fact.payments.append((payment["id"], part, paid_at))
    if fact.remaining() > 0 and rng.random() < 0.35:
        amount = rng.randint(1, fact.remaining())
        issued_at = _between(rng, fact.issued_at, NOW)
        note = await api.credit_note(fact.id, amount=amount, issued_at=issued_at.isoformat())
        fact.credit_notes.append(Record(note["id"], amount, issued_at))
    for payment_id, _, paid_at in list(fact.payments):
        if rng.random() < 0.3:
            whole = rng.random() < 0.5
            amount = (
                fact.refundable(payment_id)
                if whole
                else rng.randint(1, fact.refundable(payment_id))
            )
            refunded_at = _between(rng, paid_at, NOW)
            refund = await api.refund(
                payment_id, amount=amount, refunded_at=refunded_at.isoformat(), reason="Returned"
            )
            fact.refunds.append(Record(refund["id"], amount, refunded_at, payment_id))
    if fact.payments and fact.held() == 0 and rng.random() < 0.5:
        latest = max([p[2] for p in fact.payments] + [r.at for r in fact.refunds])
        clock.set(_between(rng, latest, NOW))
        await api.post(f"/api/v1/invoices/{fact.id}/cancel")
        fact.cancelled_at = clock.now()
        clock.set(NOW)


async def _student_payment(
    api: Api, clock: FixedClock, rng: random.Random, ledger: Ledger, student_id: str
) -> None:
    """A lump sum (in EUR: a currency with credit and no invoice), then perhaps an invoice paid
    from the credit it left (and that payment refunded back to credit) and a payout."""
    currency = rng.choice(["MXN", "USD", "EUR"])
    paid_at = NOW - timedelta(days=rng.randint(0, 40), minutes=rng.randint(0, 1440))
    clock.set(NOW)
    receipt = await api.student_payment(
        student_id, amount=rng.randint(1, 700_000), currency=currency, paid_at=paid_at.isoformat()
    )
    for share in receipt["payments"]:
        ledger.invoices[share["invoice_id"]].payments.append(
            (share["id"], share["amount"], paid_at)
        )
    if receipt["credited_to_balance"]:
        ledger.credit.append(
            CreditFact(student_id, currency, receipt["credited_to_balance"], paid_at)
        )
    owing = [
        f
        for f in ledger.invoices.values()
        if f.student_id == student_id and f.currency == currency and f.remaining() > 0
    ]
    balance = ledger.balance(student_id, currency)
    if owing and balance and rng.random() < 0.7:
        fact = rng.choice(owing)
        clock.set(_between(rng, paid_at, NOW))
        amount = rng.randint(1, min(balance, fact.remaining()))
        payment = await api.payment(fact.id, amount=amount, method="credit")
        fact.payments.append((payment["id"], amount, clock.now()))
        ledger.credit.append(CreditFact(student_id, currency, -amount, clock.now()))
        if rng.random() < 0.5:
            refunded_at = _between(rng, clock.now(), NOW)
            clock.set(NOW)
            refund = await api.refund(payment["id"], refunded_at=refunded_at.isoformat())
            fact.refunds.append(Record(refund["id"], amount, refunded_at, payment["id"]))
            ledger.credit.append(CreditFact(student_id, currency, amount, refunded_at))
    balance = ledger.balance(student_id, currency)
    if balance and rng.random() < 0.5:
        clock.set(_between(rng, paid_at, NOW))
        amount = rng.randint(1, balance)
        await api.payout(student_id, amount=amount, currency=currency)
        ledger.credit.append(CreditFact(student_id, currency, -amount, clock.now()))


def _lines_view(statement: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": i["id"],
            "currency": i["currency"],
            "amount": i["amount"],
            "amount_paid": i["amount_paid"],
            "amount_credited": i["amount_credited"],
            "amount_remaining": i["amount_remaining"],
            "status": i["status"],
            "days_overdue": i["days_overdue"],
            "payments": [
                {
                    "id": p["id"],
                    "amount_refunded": p["amount_refunded"],
                    "refund_ids": [r["id"] for r in p["refunds"]],
                }
                for p in i["payments"]
            ],
            "credit_note_ids": [n["id"] for n in i["credit_notes"]],
        }
        for i in statement["invoices"]
    ]


def _without_internal(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in x.items() if k not in ("late_days", "refunded")} for x in lines]


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
    facts = ledger.invoices.values()
    # The workload holds every kind of record the figures depend on.
    assert all(
        (any(f.refunds for f in facts), any(f.credit_notes for f in facts), ledger.credit)
    ), seed
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
            expected_totals = ledger.student_totals(student_id, judged, cutoff)
            assert statement["totals"] == expected_totals, (day, student_id)

        school, students = await _school_pages(api, school_id, query)
        assert school["as_of"] == judged.isoformat()
        assert school["totals"] == ledger.school_totals(judged, cutoff), day
        # Every student exactly once, in creation order, those without invoices included.
        assert [s["student_id"] for s in students] == ledger.students
        for line in students:
            expected = ledger.student_totals(line["student_id"], judged, cutoff, detailed=False)
            assert line["totals"] == expected, (day, line["student_id"])
        # The school's totals are the sum of its students' totals.
        for entry in school["totals"]:
            for figure in (
                "invoiced",
                "credited",
                "paid",
                "outstanding",
                "overdue",
                "invoice_count",
                "credit_balance",
            ):
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
            "credited": 0,
            "paid": 0,
            "refunded": 0,
            "outstanding": 0,
            "overdue": 0,
            "invoice_count": 1,
            "credit_balance": 0,
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


async def test_a_cancelled_invoice_takes_its_credit_notes_and_refunds_out_of_every_total(
    api: Api, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 1, 12, tzinfo=UTC))
    school = await api.school(timezone="UTC")
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000, due_date="2026-11-30")
    payment = await api.payment(invoice["id"], amount=600)
    await api.credit_note(invoice["id"], amount=100)
    clock.set(datetime(2026, 11, 10, 12, tzinfo=UTC))
    await api.refund(payment["id"])
    await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    clock.set(NOW)

    def figures(statement: dict[str, Any]) -> tuple[int, ...]:
        t = statement["totals"][0]
        return (t["invoiced"], t["credited"], t["paid"], t["refunded"], t["outstanding"])

    path = f"/api/v1/students/{student['id']}/statement"
    assert figures((await api.get(path)).json()) == (0, 0, 0, 0, 0)
    # Before the refund and the cancellation, all of it counted.
    before = (await api.get(f"{path}?as_of=2026-11-05")).json()
    assert figures(before) == (1_000, 100, 600, 0, 300)
    line = before["invoices"][0]
    assert (line["status"], line["amount_paid"], line["amount_credited"]) == (
        "PARTIALLY_PAID",
        600,
        100,
    )
    assert line["payments"][0]["refunds"] == []


async def test_credit_in_a_currency_without_invoices_has_a_totals_entry_of_its_own(
    api: Api, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 1, 12, tzinfo=UTC))
    school = await api.school(timezone="UTC")
    student = await api.student(school["id"])
    await api.invoice(student["id"], amount=1_000, currency="MXN")
    clock.set(datetime(2026, 11, 10, 12, tzinfo=UTC))
    await api.student_payment(student["id"], amount=700, currency="USD")
    clock.set(NOW)
    statement = (await api.get(f"/api/v1/students/{student['id']}/statement")).json()
    assert [t["currency"] for t in statement["totals"]] == ["MXN", "USD"]
    usd = statement["totals"][1]
    assert usd["credit_balance"] == 700
    assert (usd["invoiced"], usd["outstanding"], usd["invoice_count"]) == (0, 0, 0)
    assert set(usd["status_counts"].values()) == {0}
    # The credit is owed to the payer: it does not lower what the MXN invoice still owes.
    assert statement["totals"][0]["outstanding"] == 1_000
    school_statement = (await api.get(f"/api/v1/schools/{school['id']}/statement")).json()
    assert [(t["currency"], t["student_count"]) for t in school_statement["totals"]] == [
        ("MXN", 1),
        ("USD", 0),
    ]
    (line,) = school_statement["students"]["data"]
    assert [(t["currency"], t["credit_balance"]) for t in line["totals"]] == [
        ("MXN", 0),
        ("USD", 700),
    ]
    # Before the student payment there was no credit entry, so no USD entry either.
    earlier = (await api.get(f"/api/v1/students/{student['id']}/statement?as_of=2026-11-09")).json()
    assert [t["currency"] for t in earlier["totals"]] == ["MXN"]


async def test_a_backdated_credit_note_never_makes_a_past_line_owe_less_than_nothing(
    api: Api, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 1, 12, tzinfo=UTC))
    school = await api.school(timezone="UTC")
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000, due_date="2026-11-30")
    payment = await api.payment(invoice["id"], amount=1_000)
    clock.set(datetime(2026, 11, 20, 12, tzinfo=UTC))
    await api.refund(payment["id"])
    # Issued now, dated the 5th: on the 10th the invoice held 1,000 and was credited 1,000.
    await api.credit_note(invoice["id"], amount=1_000, issued_at="2026-11-05T12:00:00Z")
    clock.set(NOW)
    tenth = (await api.get(f"/api/v1/students/{student['id']}/statement?as_of=2026-11-10")).json()
    line = tenth["invoices"][0]
    assert (line["status"], line["amount_remaining"]) == ("PAID", 0)
    totals = tenth["totals"][0]
    assert (totals["invoiced"], totals["credited"], totals["paid"], totals["outstanding"]) == (
        1_000,
        1_000,
        1_000,
        0,
    )
    school_totals = (
        await api.get(f"/api/v1/schools/{school['id']}/statement?as_of=2026-11-10")
    ).json()["totals"]
    assert school_totals[0]["outstanding"] == 0


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
