"""Request and trace ids, and the masking that keeps secrets out of the logs."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from school_payments.adapters.observability.context import choose_request_id, choose_trace_id
from school_payments.adapters.observability.logging import SecretMasker, configure_logging

NEW_ID = re.compile(r"[0-9a-f]{32}")
VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

# -- request ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incoming",
    ["req-123", "0192f0c4-1111-7000-8000-000000000000", "a.b:c@d/e+f=g_h", "x" * 128],
)
def test_a_sane_request_id_from_the_caller_is_kept(incoming: str) -> None:
    assert choose_request_id(incoming) == incoming


@pytest.mark.parametrize(
    "incoming",
    [None, "", "has space", "x" * 129, "line\nbreak", "tab\there", 'quote"d', "ñandú", "<script>"],
)
def test_a_missing_or_insane_request_id_is_replaced_by_a_new_one(incoming: str | None) -> None:
    chosen = choose_request_id(incoming)
    assert chosen != incoming
    assert NEW_ID.fullmatch(chosen)


def test_new_request_ids_are_unique() -> None:
    assert len({choose_request_id(None) for _ in range(1_000)}) == 1_000


# -- trace ids ----------------------------------------------------------------------------------


def test_the_trace_id_of_a_valid_traceparent_is_kept() -> None:
    assert choose_trace_id(VALID_TRACEPARENT) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_surrounding_whitespace_in_a_traceparent_is_tolerated() -> None:
    assert choose_trace_id(f"  {VALID_TRACEPARENT} ") == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "traceparent",
    [
        None,
        "",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "garbage",
    ],
)
def test_an_invalid_traceparent_gets_a_new_trace_id(traceparent: str | None) -> None:
    chosen = choose_trace_id(traceparent)
    assert NEW_ID.fullmatch(chosen)
    assert chosen != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert chosen != "0" * 32


# -- secret masking -----------------------------------------------------------------------------


def test_school_api_keys_are_masked() -> None:
    text = SecretMasker().mask("created key spk_Zm9vYmFyLWJhei1xdXV4_-123 for school")
    assert text == "created key spk_*** for school"


def test_bearer_tokens_are_masked_whatever_their_case() -> None:
    masker = SecretMasker()
    assert masker.mask("Authorization: Bearer abc.def.ghi") == "Authorization: Bearer ***"
    assert masker.mask("authorization: bearer   xyz") == "authorization: bearer   ***"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cr3t@db:5432/pay", "postgresql://app:***@db:5432/pay"),
        ("postgresql+asyncpg://u:p%40ss@h/d", "postgresql+asyncpg://u:***@h/d"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
    ],
)
def test_passwords_in_urls_are_masked(url: str, masked: str) -> None:
    assert SecretMasker().mask(f"connecting to {url} now") == f"connecting to {masked} now"


def test_urls_without_a_password_are_left_alone() -> None:
    text = "GET https://example.com:8443/api/v1/schools and redis://cache:6379/0"
    assert SecretMasker().mask(text) == text


def test_configured_secrets_are_masked_wherever_they_appear() -> None:
    masker = SecretMasker(["operator-key-0123456789"])
    assert masker.mask("bad key xoperator-key-0123456789x") == "bad key x***x"


def test_configured_secrets_too_short_to_be_safe_to_replace_are_ignored() -> None:
    masker = SecretMasker(["", "ab"])
    assert masker.mask("a cab ride") == "a cab ride"


def test_the_masker_masks_every_text_value_of_a_log_event_and_leaves_others() -> None:
    masker = SecretMasker(["topsecret"])
    event = {"message": "key spk_abc", "url": "redis://:topsecret@h/0", "status": 401}
    assert masker(None, "info", event) == {
        "message": "key spk_***",
        "url": "redis://:***@h/0",
        "status": 401,
    }


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("INFO", secrets=["operator-key-0123456789"], stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.captureWarnings(False)


def test_a_log_line_is_json_with_the_standard_fields_and_no_secrets(
    log_stream: io.StringIO,
) -> None:
    logging.getLogger("school_payments.test").info(
        "auth with operator-key-0123456789", extra={"header": "Bearer spk_abcdef"}
    )
    line = json.loads(log_stream.getvalue().strip().splitlines()[-1])
    assert list(line)[:6] == ["timestamp", "level", "message", "service", "request_id", "trace_id"]
    assert line["message"] == "auth with ***"
    assert line["header"] == "Bearer ***"
    assert "operator-key" not in log_stream.getvalue()
    assert "spk_abcdef" not in log_stream.getvalue()
