"""`school-payments reconcile`, as an operator runs it: exit status 0 when all is well, 1 if not.

Each discrepancy is logged (one JSON line on stdout naming the check and the subject), then a
summary line with the count.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.reconcile import CHECKS
from tests.support.api import Api

COMMAND = str(Path(sys.executable).with_name("school-payments"))

# The CLI runs in a process of its own: about two seconds a run, imports and all.
pytestmark = pytest.mark.slow


async def _reconcile(database_url: str) -> tuple[int, list[dict[str, Any]]]:
    environment = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    environment.pop("ADMIN_API_KEY", None)  # an operator's shell need not hold the API key
    completed = await asyncio.to_thread(
        subprocess.run,
        [COMMAND, "reconcile"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no log lines; stderr: {completed.stderr}"
    return completed.returncode, lines


async def _paid_student(api: Api) -> str:
    """A student with a settled invoice, an open one with a refund and a credit note, and
    credit left by a student payment in another currency: every record reconcile checks."""
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000)
    await api.payment(invoice["id"], amount=1_000)
    other = await api.invoice(student["id"], amount=5_000)
    payment = await api.payment(other["id"], amount=1_200)
    await api.refund(payment["id"], amount=200)
    await api.credit_note(other["id"], amount=300)
    await api.student_payment(student["id"], amount=700, currency="USD")
    return str(student["id"])


def _checks(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["message"] == "reconciliation check"]


def _finished(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (summary,) = [line for line in lines if line["message"] == "reconciliation finished"]
    return summary


async def test_reconcile_exits_0_and_says_so_when_every_invariant_holds(
    api: Api, database_url: str
) -> None:
    await _paid_student(api)
    status, lines = await _reconcile(database_url)
    assert status == 0
    assert _finished(lines)["discrepancies"] == 0
    assert [line for line in lines if line["message"] == "reconciliation discrepancy"] == []
    # One line per check, each saying it held.
    assert [(line["check"], line["ok"]) for line in _checks(lines)] == [
        (name, True) for name in CHECKS
    ]


async def test_reconcile_exits_1_and_names_each_discrepancy_it_finds(
    api: Api, database_url: str
) -> None:
    student_id = await _paid_student(api)
    database = Database(DatabaseSettings(url=database_url))
    try:
        async with database.transaction() as q:  # a balance that no longer matches its invoices
            await q.execute(
                text("UPDATE student_balances SET closed_invoiced = closed_invoiced + 1")
            )
            await q.connection.commit()
    finally:
        await database.dispose()

    status, lines = await _reconcile(database_url)
    assert status == 1, lines
    found_lines = [line for line in lines if line["message"] == "reconciliation discrepancy"]
    assert len(found_lines) == 1, lines
    (found,) = found_lines
    assert (found["level"], found["check"], found["subject"]) == (
        "error",
        "balances_match_closed_invoices",
        student_id,
    )
    assert (found["closed_invoiced"], found["stored_closed_invoiced"]) == (1_000, 1_001)
    assert _finished(lines)["discrepancies"] == 1
    failed = [(c["check"], c["discrepancies"]) for c in _checks(lines) if not c["ok"]]
    assert failed == [("balances_match_closed_invoices", 1)]
