"""Server-generated identifiers: UUIDv7, so that ordering by id is ordering by creation."""

from __future__ import annotations

import os
import threading
import time
import uuid


class _Uuid7:
    """UUIDv7 (RFC 9562) with a 12-bit counter in `rand_a` (method 1 of §6.2).

    Ids made by one process are strictly increasing; ids from several processes interleave by
    millisecond, which is what "creation order" can mean across machines.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                # Start low in the counter's range, leaving room to count up within the ms.
                self._counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
            else:
                self._counter += 1
                if self._counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                    self._last_ms += 1
                    self._counter = 0
            ms, counter = self._last_ms, self._counter
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
        return uuid.UUID(int=value)


new_id = _Uuid7()
"""Returns a new UUIDv7 that sorts after every id this process made before it."""
