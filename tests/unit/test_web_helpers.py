"""Opaque cursors and idempotency fingerprints: what the web adapter hands out and compares."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_payments.adapters.web.presenters import decode_cursor, encode_cursor
from school_payments.application.idempotency import fingerprint
from school_payments.domain.errors import InvalidValueError
from school_payments.domain.ids import new_id

# -- cursors ------------------------------------------------------------------------------------


@given(value=st.uuids())
def test_a_cursor_decodes_to_the_id_it_was_made_from(value: uuid.UUID) -> None:
    cursor = encode_cursor(value)
    assert cursor is not None
    assert decode_cursor(cursor) == value


def test_a_cursor_is_url_safe_and_unpadded() -> None:
    cursor = encode_cursor(uuid.UUID("fbffffff-ffff-7fff-bfff-ffffffffffff"))
    assert cursor is not None
    assert len(cursor) == 22
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "-" in cursor or "_" in cursor


def test_the_last_page_has_no_cursor_and_no_cursor_means_the_first_page() -> None:
    assert encode_cursor(None) is None
    assert decode_cursor(None) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "!!!!",
        "AAAA",  # three bytes, not an id
        "A" * 23,
        "A" * 24,
        "é" * 22,
        str(uuid.uuid4()),
        base64.urlsafe_b64encode(b"\x00" * 17).decode().rstrip("="),
    ],
)
def test_a_cursor_this_api_never_returned_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        decode_cursor(cursor)
    assert refused.value.field == "cursor"


def test_a_padded_cursor_is_refused_as_non_canonical() -> None:
    cursor = encode_cursor(new_id())
    assert cursor is not None
    with pytest.raises(InvalidValueError):
        decode_cursor(cursor + "==")


def test_a_cursor_with_unused_low_bits_set_is_refused_as_non_canonical() -> None:
    value = uuid.UUID(int=0)
    cursor = encode_cursor(value)
    assert cursor == "A" * 22
    # "B" sets a bit that 16 bytes leave unused: base64 decodes it to the same id.
    assert base64.urlsafe_b64decode("A" * 21 + "B==") == value.bytes
    with pytest.raises(InvalidValueError):
        decode_cursor("A" * 21 + "B")


def test_a_cursor_in_standard_rather_than_url_safe_base64_is_refused() -> None:
    value = uuid.UUID("fbffffff-ffff-7fff-bfff-ffffffffffff")
    cursor = encode_cursor(value)
    assert cursor is not None
    standard = cursor.replace("-", "+").replace("_", "/")
    assert standard != cursor
    with pytest.raises(InvalidValueError):
        decode_cursor(standard)


# -- idempotency fingerprints -------------------------------------------------------------------


def test_key_order_does_not_change_the_fingerprint() -> None:
    a = fingerprint("POST", "/api/v1/schools", {"name": "C", "timezone": "UTC"})
    b = fingerprint("POST", "/api/v1/schools", {"timezone": "UTC", "name": "C"})
    assert a == b


def test_nested_key_order_does_not_change_the_fingerprint() -> None:
    a = fingerprint("POST", "/p", {"x": {"a": 1, "b": [1, {"c": 2, "d": 3}]}})
    b = fingerprint("POST", "/p", {"x": {"b": [1, {"d": 3, "c": 2}], "a": 1}})
    assert a == b


def test_the_fingerprint_is_of_the_content_not_its_whitespace() -> None:
    compact = json.loads('{"amount":100,"method":"cash"}')
    spaced = json.loads('{\n  "amount" : 100 ,\n  "method" : "cash"\n}\n')
    assert fingerprint("POST", "/p", compact) == fingerprint("POST", "/p", spaced)


def test_the_method_case_does_not_matter_but_the_method_does() -> None:
    body = {"amount": 100}
    assert fingerprint("post", "/p", body) == fingerprint("POST", "/p", body)
    assert fingerprint("POST", "/p", body) != fingerprint("PUT", "/p", body)


def test_the_same_body_on_another_path_is_another_request() -> None:
    body = {"amount": 100, "method": "cash"}
    first = fingerprint("POST", f"/api/v1/invoices/{new_id()}/payments", body)
    second = fingerprint("POST", f"/api/v1/invoices/{new_id()}/payments", body)
    assert first != second


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"amount": 100}, {"amount": 101}),
        ({"amount": 100}, {"amount": "100"}),
        ({"reference": None}, {}),
        ([1, 2], [2, 1]),
        ({"name": "Ana"}, {"name": "ana"}),
    ],
)
def test_a_different_content_is_a_different_fingerprint(one: object, other: object) -> None:
    assert fingerprint("POST", "/p", one) != fingerprint("POST", "/p", other)


def test_a_body_with_unicode_and_lone_surrogates_still_has_a_fingerprint() -> None:
    assert fingerprint("POST", "/p", {"name": "Colegio Ñandú \ud800"}) != fingerprint(
        "POST", "/p", {"name": "Colegio Ñandú"}
    )
