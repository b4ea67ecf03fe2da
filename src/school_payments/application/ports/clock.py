from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The current instant as an aware UTC datetime; tests replace it to fix "today"."""

    def now(self) -> datetime: ...
