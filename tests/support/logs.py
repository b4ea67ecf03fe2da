"""Capturing the service's JSON log lines in a test."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from school_payments.adapters.observability.logging import configure_logging


class CapturedLogs:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def with_message(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["message"] == message]


@contextmanager
def captured_logs(level: str = "INFO", secrets: tuple[str, ...] = ()) -> Iterator[CapturedLogs]:
    """Configures the service's logging onto a buffer, and restores the previous set-up after."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(level, secrets=secrets, stream=stream)
    try:
        yield CapturedLogs(stream)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)
