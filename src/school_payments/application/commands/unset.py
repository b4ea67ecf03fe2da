"""PATCH semantics: a field the client did not send is UNSET, distinct from an explicit null."""

from __future__ import annotations

import enum


class Unset(enum.Enum):
    UNSET = "UNSET"


UNSET = Unset.UNSET
