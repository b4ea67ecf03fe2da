"""Opaque cursors: the API hands out only canonical ones and accepts nothing else."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_payments.adapters.representation.cursors import decode_cursor, encode_cursor
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
