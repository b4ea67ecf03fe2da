"""The one problem table: every error the service can raise has its status and code there."""

from __future__ import annotations

import inspect
from types import ModuleType

import orjson
import pytest

from school_payments.adapters.web import errors as web_errors
from school_payments.adapters.web.problems import PROBLEMS, problem_response, row_for
from school_payments.application import errors as application_errors
from school_payments.domain import errors as domain_errors
from school_payments.domain.errors import (
    BusinessRuleError,
    DomainError,
    InvoiceNotPayableError,
    UnknownCurrencyError,
)

ABSTRACT = {DomainError, BusinessRuleError, web_errors.HttpRequestError}
"""Bases that are never raised themselves: only their subclasses are."""


def _errors_of(module: ModuleType) -> list[type[Exception]]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == module.__name__
    ]


EVERY_ERROR = [
    cls
    for module in (domain_errors, application_errors, web_errors)
    for cls in _errors_of(module)
    if cls not in ABSTRACT
]


@pytest.mark.parametrize("error_type", EVERY_ERROR, ids=lambda cls: cls.__name__)
def test_every_domain_application_and_web_error_has_a_row(error_type: type[Exception]) -> None:
    found = row_for(error_type)
    assert found is not None, f"{error_type.__name__} has no row in problems.PROBLEMS"
    assert found[0] is not Exception


def test_every_business_rule_is_a_409_with_its_own_code() -> None:
    rules = [cls for cls in EVERY_ERROR if issubclass(cls, BusinessRuleError)]
    codes = [PROBLEMS[cls].code for cls in rules]
    assert {PROBLEMS[cls].status for cls in rules} == {409}
    assert len(set(codes)) == len(codes)


def test_a_subclass_without_a_row_answers_as_its_nearest_listed_base() -> None:
    response = problem_response(UnknownCurrencyError("ZZZ"))
    body = orjson.loads(response.body)
    assert (response.status_code, body["code"]) == (422, "validation_error")
    assert body["errors"] == [{"loc": ["body", "currency"], "msg": body["detail"]}]


def test_a_refusal_says_what_went_wrong_in_its_detail() -> None:
    body = orjson.loads(problem_response(InvoiceNotPayableError("PAID")).body)
    assert body["code"] == "invoice_not_payable"
    assert body["type"] == "tag:school-payments,2026:problem:invoice_not_payable"
    assert "PAID" in body["detail"]


def test_an_error_the_table_does_not_know_is_an_internal_error_without_its_message() -> None:
    response = problem_response(RuntimeError("secret connection string"))
    body = orjson.loads(response.body)
    assert (response.status_code, body["code"]) == (500, "internal_error")
    assert "secret" not in body["detail"]
