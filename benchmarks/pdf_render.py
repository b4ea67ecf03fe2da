"""How long a student statement PDF takes to draw, per invoice line.

    .venv/bin/python -m benchmarks.pdf_render [lines] [--name NAME] [--profile]

Builds a statement of `lines` invoices (default 1,500; every third one with a payment) for a
student named `NAME` (default a Latin, an Arabic, a Devanagari and a Thai name together, so
text shaping and the fallback fonts are on the measured path), draws it three times and prints
the best time, the time per line and the size, then the best of twenty reads of its JSON back
into the document the renderers take (a render in a worker starts with that read). `--profile`
prints cProfile's top functions.
Needs nothing but the project's virtual environment.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from typing import Any

import orjson

from school_payments.adapters.web.documents.pdf import student_pdf
from school_payments.adapters.web.documents.reading import student_document

DEFAULT_NAME = "María محمد देवनागरी สมชาย"
SCHOOL_ID = "01a23adb-0afb-73d2-9a41-5c6e0d3b2a10"
STUDENT_ID = "01a23adb-0afb-73d3-8055-9b1bdeb71f0f"


def statement_json(lines: int, name: str) -> bytes:
    """A student statement in the JSON shape the statement query returns."""
    first, _, last = name.partition(" ")
    invoices: list[dict[str, Any]] = []
    for n in range(lines):
        paid = 50_000 if n % 3 == 0 else 0
        invoices.append(
            {
                "id": f"01a23adb-0afb-73d4-a073-{n:012d}",
                "description": f"Colegiatura {n} — {name}" if n % 10 == 0 else f"Cuota {n}",
                "currency": "MXN",
                "amount": 150_000,
                "school_id": SCHOOL_ID,
                "student_id": STUDENT_ID,
                "amount_paid": paid,
                "amount_credited": 0,
                "amount_remaining": 150_000 - paid,
                "status": "PARTIALLY_PAID" if paid else "PENDING",
                "due_date": "2026-12-01",
                "days_overdue": 0,
                "issued_at": "2026-11-24T12:00:00Z",
                "created_at": "2026-11-24T12:00:00Z",
                "updated_at": "2026-11-24T12:00:00Z",
                "cancelled_at": None,
                "payments": [
                    {
                        "id": f"01a23adb-0afb-73d5-bb9b-{n:012d}",
                        "amount": paid,
                        "paid_at": "2026-11-24T12:00:00Z",
                        "method": "cash",
                        "reference": f"R-{n}",
                        "amount_refunded": 0,
                        "refunds": [],
                    }
                ]
                if paid
                else [],
                "credit_notes": [],
            }
        )
    document = {
        "snapshot_id": "sha256:" + "0" * 64,
        "student": {
            "id": STUDENT_ID,
            "school_id": SCHOOL_ID,
            "first_name": first,
            "last_name": last,
            "external_id": None,
            "status": "active",
            "created_at": "2026-11-01T12:00:00Z",
            "updated_at": "2026-11-01T12:00:00Z",
            "archived_at": None,
        },
        "school": {"id": SCHOOL_ID, "name": "Colegio Nguyễn", "timezone": "America/Mexico_City"},
        "as_of": "2026-11-24",
        "generated_at": "2026-11-24T18:00:00Z",
        "totals": [
            {
                "currency": "MXN",
                "invoiced": 150_000 * lines,
                "credited": 0,
                "paid": 0,
                "outstanding": 150_000 * lines,
                "overdue": 0,
                "invoice_count": lines,
                "credit_balance": 0,
                "refunded": 0,
                "status_counts": {
                    "PENDING": lines,
                    "PARTIALLY_PAID": 0,
                    "PAID": 0,
                    "OVERDUE": 0,
                    "CANCELLED": 0,
                },
                "aging": {"current": 0, "1_30": 0, "31_60": 0, "61_90": 0, "over_90": 0},
            }
        ],
        "invoices": invoices,
        "invoices_next_cursor": None,
    }
    return orjson.dumps(document)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", type=int, nargs="?", default=1_500)
    parser.add_argument("--name", default=DEFAULT_NAME)
    parser.add_argument("--profile", action="store_true")
    arguments = parser.parse_args()
    body = statement_json(arguments.lines, arguments.name)
    document = student_document(body)
    if arguments.profile:
        profile = cProfile.Profile()
        profile.runcall(student_pdf, document)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    best, size = float("inf"), 0
    for _ in range(3):
        start = time.perf_counter()
        size = len(student_pdf(document))
        best = min(best, time.perf_counter() - start)
    parsing = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        student_document(body)
        parsing = min(parsing, time.perf_counter() - start)
    print(
        f"{arguments.lines} invoice lines: {best:.2f} s ({best / arguments.lines * 1000:.2f} ms"
        f" a line), {size:,} bytes; reading the JSON ({len(body):,} bytes) back:"
        f" {parsing * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
