"""The fonts bundled for the PDF statements: which one draws which character, which texts need
text shaping, and what stands in for a character no bundled font has (never nothing)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont

FONTS = Path(__file__).with_name("fonts")

MAIN_FAMILY = "DejaVu"
MAIN_REGULAR = "DejaVuSans.ttf"
MAIN_BOLD = "DejaVuSans-Bold.ttf"

REPLACEMENT = "\ufffd"
"""Drawn instead of a character no bundled font has (DejaVu Sans has it): a reader sees that
something is missing, rather than a name that silently lost letters."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """A font for the characters DejaVu Sans lacks; only its regular weight is bundled."""

    family: str
    file: str


FALLBACKS = (
    Fallback("NotoArabic", "NotoSansArabic-Regular.subset.ttf"),
    Fallback("NotoHebrew", "NotoSansHebrew-Regular.subset.ttf"),
    Fallback("NotoDevanagari", "NotoSansDevanagari-Regular.subset.ttf"),
    Fallback("NotoBengali", "NotoSansBengali-Regular.subset.ttf"),
    Fallback("NotoTamil", "NotoSansTamil-Regular.subset.ttf"),
    Fallback("NotoThai", "NotoSansThai-Regular.subset.ttf"),
    Fallback("DroidFallback", "DroidSansFallbackFull.ttf"),
    Fallback("SymbolaEmoji", "Symbola-Emoji.subset.ttf"),
)
"""In the order they are tried: the script fonts first, then CJK, then emoji and symbols."""

_NEEDS_SHAPING = re.compile(
    "[\u0590-\u08ff"  # Hebrew, Arabic, Syriac, Thaana, NKo…: joining forms, right to left
    "\u0900-\u0dff"  # Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu…: conjuncts
    "\u0e00-\u0e7f"  # Thai: stacked vowel and tone marks
    "\ufb1d-\ufdff\ufe70-\ufefc]"  # Hebrew and Arabic presentation forms
)


def needs_shaping(text: str) -> bool:
    """Whether `text` is wrong without HarfBuzz (joined, reordered or right-to-left scripts).

    Shaping is switched on for such texts only: it costs several times more than plain text,
    and amounts, dates and Latin names look the same without it."""
    return not text.isascii() and _NEEDS_SHAPING.search(text) is not None


@cache
def coverage(file: str) -> frozenset[int]:
    """The code points a bundled font has glyphs for (read once per process)."""
    with TTFont(FONTS / file, lazy=True) as font:
        return frozenset(font.getBestCmap())


@cache
def main_coverage() -> frozenset[int]:
    """What DejaVu Sans draws in both weights (a bold heading must not lose a character)."""
    return coverage(MAIN_REGULAR) & coverage(MAIN_BOLD)


def fallbacks_for(texts: Iterable[str]) -> list[Fallback]:
    """The fallback fonts some character of `texts` needs, in `FALLBACKS` order."""
    main = main_coverage()
    missing = {ord(c) for text in texts if not text.isascii() for c in text} - main
    needed = []
    for fallback in FALLBACKS:
        if not missing:
            break
        found = missing & coverage(fallback.file)
        if found:
            needed.append(fallback)
            missing -= found
    return needed


def drawable(text: str, covered: frozenset[int]) -> str:
    """`text` with every character no loaded font covers made visible: a printable one becomes
    U+FFFD, an invisible format or control character (a stray joiner) is dropped."""
    if all(ord(c) in covered for c in text):
        return text
    kept = []
    for char in text:
        if ord(char) in covered or char == "\n":
            kept.append(char)
        elif unicodedata.category(char) in {"Cf", "Cc"}:
            continue
        else:
            kept.append(REPLACEMENT)
    return "".join(kept)
