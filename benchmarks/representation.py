"""What building and serialising a response costs, per shape, in one process (no HTTP, no I/O).

    .venv/bin/python -m benchmarks.representation

Each response is validated from the domain objects into its model (`Model.of`) and serialised
by the model (`to_json`), the way the routes do it. The figures are medians of five rounds of
20,000 calls; compare them with a request's whole cost (about a millisecond of CPU for a
payment, README "Performance") to see what the shapes add.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date

from tests.unit.builders import TODAY, a_school, a_student, an_invoice, pay

from school_payments.adapters.representation.json import ResponseModel
from school_payments.adapters.representation.resources import (
    InvoiceWithPaymentsOut,
    PaymentWithRefundsOut,
    StudentOut,
)
from school_payments.application.read_models import InvoiceView

ROUNDS, CALLS = 5, 20_000


def _per_call_us(build: Callable[[], ResponseModel]) -> float:
    def one_round() -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            build().to_json()
        return (time.perf_counter() - started) / CALLS * 1e6

    return statistics.median(one_round() for _ in range(ROUNDS))


def main() -> None:
    student = a_student(a_school())
    invoice = an_invoice(student)
    invoice.payments = ()
    pay(invoice, 500)
    pay(invoice, 700)
    assert invoice.payments  # recorded on the loaded collection
    payment = invoice.payments[0]
    day: date = TODAY
    shapes: dict[str, Callable[[], ResponseModel]] = {
        "student": lambda: StudentOut.of(student),
        "payment (with its refunds)": lambda: PaymentWithRefundsOut.of(payment),
        "invoice with 2 payments": lambda: InvoiceWithPaymentsOut.of(InvoiceView(invoice, day)),
    }
    for name, build in shapes.items():
        print(f"  {name:<30} {_per_call_us(build):6.1f} µs to build and serialise")


if __name__ == "__main__":
    main()
