"""The tiers of the suite, and the guard that keeps a test in the tier it says it is in.

A test needs PostgreSQL, a redis-server or poppler only through the helpers of tests/support (or
the fixtures built on them), and each helper calls `require(...)` first: a test that reaches one
without its marker fails at once, with or without the server running, so a fast-tier test cannot
quietly start needing a server. `tests/conftest.py` adds most markers on its own, from the fixtures
a test uses; a test that reaches a server some other way says so with `@pytest.mark.<resource>`.
"""

from __future__ import annotations

from typing import Literal

import pytest

Resource = Literal["postgres", "redis", "poppler"]

# The markers that keep a test out of the fast tier; a test with none of them is marked `fast`.
OUT_OF_FAST_TIER = ("postgres", "redis", "poppler", "slow")

_current: pytest.Item | None = None


def running(item: pytest.Item | None) -> None:
    """Records the test being set up, run or torn down (called by the conftest's hook)."""
    global _current  # noqa: PLW0603 - one test runs at a time; the hook is its only writer
    _current = item


def require(resource: Resource) -> None:
    """Fails the running test unless it carries the marker of `resource`."""
    if _current is not None and _current.get_closest_marker(resource) is None:
        pytest.fail(
            f"{_current.nodeid} uses {resource} but is not marked `{resource}`: request one of"
            f" the fixtures that mark it (see tests/conftest.py) or add @pytest.mark.{resource}",
            pytrace=False,
        )
