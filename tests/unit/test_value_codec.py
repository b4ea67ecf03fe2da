"""Idempotency records: an outcome reads back equal to the one written; nothing else is read."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from school_payments.adapters.persistence.value_codec import decode_outcome, encode_outcome
from school_payments.application.ports.idempotency_store import Created, Refused
from school_payments.application.read_models import InvoiceView
from school_payments.domain.errors import PaymentExceedsRemainingError
from tests.unit.builders import a_school, a_student, an_invoice, mxn, pay


def test_an_invoice_as_read_on_a_day_with_its_payments_comes_back_equal() -> None:
    invoice = an_invoice(a_student(a_school()))
    invoice.payments = ()
    pay(invoice, 500)
    outcome = Created(InvoiceView(invoice, date(2026, 12, 3)))
    decoded = decode_outcome(encode_outcome(outcome))
    assert decoded == outcome
    assert isinstance(decoded, Created)
    assert isinstance(decoded.value, InvoiceView)
    assert decoded.value.invoice.payments == invoice.payments
    assert decoded.value.invoice.payments


def test_a_refusal_comes_back_as_the_same_error_with_the_same_detail() -> None:
    error = PaymentExceedsRemainingError(mxn(5), mxn(4))
    decoded = decode_outcome(encode_outcome(Refused(error)))
    assert isinstance(decoded, Refused)
    assert isinstance(decoded.error, PaymentExceedsRemainingError)
    assert (
        decoded.error.detail
        == error.detail
        == (
            "the payment of 0.05 MXN exceeds the 0.04 MXN that remain on the invoice;"
            " pay at most 0.04 MXN"
        )
    )
    assert (decoded.error.amount, decoded.error.remaining) == (5, 4)


def test_a_record_naming_a_type_outside_the_domain_is_not_read() -> None:
    forged = orjson.dumps({"$type": "Popen", "fields": {"args": ["sh"]}})
    with pytest.raises(KeyError):
        decode_outcome(forged)


def test_only_domain_and_application_types_can_be_written() -> None:
    with pytest.raises(TypeError):
        encode_outcome(Created(object()))
