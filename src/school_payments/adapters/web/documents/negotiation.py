"""Which representation a request gets (`Accept`, RFC 9110 §12.5.1), and whether the client's
copy is still current (`ETag` and `If-None-Match`, RFC 9110 §8.8.3 and §13.1.2)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Representation:
    name: str
    """Short name, also the file extension of a download."""
    media_type: str
    """What `Accept` names it by."""
    content_type: str
    """The `Content-Type` it is served with."""
    revision: int
    """Moves on whenever the rendering changes: validators of the older rendering stop matching."""


JSON = Representation("json", "application/json", "application/json", 1)
PDF = Representation("pdf", "application/pdf", "application/pdf", 1)
CSV = Representation("csv", "text/csv", "text/csv; charset=utf-8; header=present", 1)

STATEMENT_REPRESENTATIONS = (JSON, PDF, CSV)
"""In the server's order of preference, for a client that ranks them equally (`*/*`)."""

_QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class _MediaRange:
    type: str
    subtype: str
    q: float

    def specificity(self, representation: Representation) -> int | None:
        """How closely this range names the representation (None: not at all)."""
        kind, _, sub = representation.media_type.partition("/")
        if self.type == "*":
            return 0
        if self.type != kind:
            return None
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else None


def _media_ranges(accept: str) -> list[_MediaRange]:
    # Lenient on purpose: a range we cannot read is left out rather than failing the request.
    # Media-type parameters (`charset=…`) are not compared: each representation has one form.
    ranges = []
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        kind, slash, sub = media.lower().partition("/")
        if not (slash and _TOKEN.fullmatch(kind) and _TOKEN.fullmatch(sub)):
            continue
        if kind == "*" and sub != "*":
            continue
        q: float | None = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else None
                break  # whatever follows q is an accept-extension
        if q is not None:
            ranges.append(_MediaRange(kind, sub, q))
    return ranges


def negotiate(
    accept: str | None, offered: Sequence[Representation] = STATEMENT_REPRESENTATIONS
) -> Representation | None:
    """The representation `accept` prefers, or None when it accepts none of `offered` (406).

    Each representation takes the q-value of the most specific range naming it (`q=0`: not
    acceptable); the highest q wins, ties go to the earlier in `offered`. No `Accept`, or one
    with no readable range, accepts anything: the first of `offered`.
    """
    ranges = _media_ranges(accept) if accept else []
    if not ranges:
        return offered[0]
    best: Representation | None = None
    best_q = 0.0
    for representation in offered:
        ranked = [
            (specificity, r.q)
            for r in ranges
            if (specificity := r.specificity(representation)) is not None
        ]
        if not ranked:
            continue
        # Of the most specific ranges naming it, the most generous q (ranges that differ only in
        # parameters we do not compare would otherwise be a coin toss).
        q = max(ranked)[1]
        if q > best_q:
            best, best_q = representation, q
    return best


def entity_tag(snapshot_id: str, representation: Representation) -> str:
    """A strong validator: the statement's content, and the representation it is rendered in."""
    return f'"{snapshot_id}-{representation.name}.{representation.revision}"'


_ENTITY_TAG = re.compile(r'\s*(?:W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def none_match(if_none_match: Iterable[str], etag: str) -> bool:
    """Whether `If-None-Match` names the current representation, so a GET answers 304.

    `*` matches any current representation; entity tags compare weakly, as RFC 9110 asks for
    this header (`W/"x"` matches `"x"`). A malformed field is ignored, as if absent.
    """
    for field in if_none_match:
        value = field.strip()
        if value == "*":
            return True
        position = 0
        tags: list[str] = []
        while position < len(value):
            match = _ENTITY_TAG.match(value, position)
            if match is None:
                tags = []
                break
            tags.append(match.group(1))
            position = match.end()
        if etag in tags:
            return True
    return False
