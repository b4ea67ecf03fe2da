"""The page layout of the PDF statements: A4, the bundled fonts, a footer with the snapshot id and
"Page N of M", and the few building blocks the statements are drawn with (fpdf2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

from fpdf import FPDF
from pydantic import BaseModel

from school_payments.adapters.web.documents.pdf_fonts import (
    FONTS,
    MAIN_BOLD,
    MAIN_FAMILY,
    MAIN_REGULAR,
    coverage,
    drawable,
    fallbacks_for,
    main_coverage,
    needs_shaping,
)

_GREY = 100
_RULE_GREY = 190
_HEADING_FILL = 235
_CELL_PAD_X = 1.2
_CELL_PAD_Y = 0.8
_LINE_HEIGHT = 4.2

Align = Literal["L", "R", "C"]


@dataclass(frozen=True, slots=True)
class RowStyle:
    size: float = 8
    grey: bool = False


PRIMARY = RowStyle()
SECONDARY = RowStyle(size=7.5, grey=True)

Row = tuple[Sequence[str], RowStyle]


def strings(value: object) -> Iterator[str]:
    """Every text in a statement document (to tell which fonts it needs)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseModel):
        for item in value.__dict__.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


class StatementPdf(FPDF):
    """An A4 statement whose bytes depend on its content alone (no build time anywhere), that
    draws every character of its texts or a visible U+FFFD in its place."""

    def __init__(
        self, *, title: str, snapshot_id: str, as_of: str, texts: Iterable[str] = ()
    ) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._snapshot_id = snapshot_id
        self._shaping = False
        self._advances: dict[tuple[str, str], dict[str, float]] = {}
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.add_font(MAIN_FAMILY, "", FONTS / MAIN_REGULAR)
        self.add_font(MAIN_FAMILY, "B", FONTS / MAIN_BOLD)
        covered = main_coverage()
        # Only the fallbacks these texts need are loaded: parsing a font costs milliseconds
        # (the CJK one, a tenth of a second), and unused ones would only slow the render.
        fallbacks = fallbacks_for(texts)
        for fallback in fallbacks:
            self.add_font(fallback.family, "", FONTS / fallback.file)
            covered |= coverage(fallback.file)
        if fallbacks:
            # No bold fallbacks are bundled: bold text in those scripts is drawn regular.
            self.set_fallback_fonts([f.family for f in fallbacks], exact_match=False)
        self._covered = covered
        self.set_title(drawable(title, covered))
        self.set_creator("school-payments")
        self.set_producer("school-payments")
        # The as-of day, not the build time: the same snapshot must give the same bytes.
        self.set_creation_date(datetime.combine(date.fromisoformat(as_of), time(), UTC))
        self.set_draw_color(_RULE_GREY)

    def normalize_text(self, text: str) -> str:
        """Every text fpdf2 draws or measures passes here: none may lose a character silently."""
        return drawable(text, self._covered)

    def _shape(self, text: str) -> None:
        shaped = needs_shaping(text)
        if shaped != self._shaping:
            self.set_text_shaping(shaped)
            self._shaping = shaped

    def _ready(self, text: str) -> None:
        """Sets shaping for `text` and selects the current font in the page's own state.

        fpdf2 selects the font lazily, inside the text object of the first line that needs it;
        when that line starts with a fallback character the selection lands inside a q…Q
        (saved graphics state) and is undone at Q, while fpdf2 believes it still holds: the
        following lines were then drawn with glyph ids of one font in another (garbage)."""
        self._shape(text)
        if not self.current_font_is_set_on_page and self.current_font is not None:
            self._out(self._set_font_for_page(self.current_font, self.font_size_pt))

    def finish(self) -> bytes:
        """The document's bytes, each page's footer saying "Page N of M" with the true M.

        The footers are drawn once every page exists, rather than through fpdf2's page-count
        alias: that alias is sized before the count is known, so a right-aligned "of M" ran
        off by the difference in width."""
        total = self.page
        self.set_auto_page_break(auto=False)
        for number in range(1, total + 1):
            self.page = number
            # fpdf2 tracks the selected font per document, not per page: select it again.
            self.current_font_is_set_on_page = False
            self._footer(number, total)
        self.page = total
        return bytes(self.output())

    def _footer(self, number: int, total: int) -> None:
        self.set_y(-13)
        self.set_font(MAIN_FAMILY, "", 7)
        self.set_text_color(_GREY)
        self._ready("")
        self.cell(0, 4, f"Snapshot {self._snapshot_id}", align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {number} of {total}", align="R")

    # -- building blocks ------------------------------------------------------------------------

    def say(self, text: str, *, size: float = 9, bold: bool = False, grey: bool = False) -> None:
        self.set_font(MAIN_FAMILY, "B" if bold else "", size)
        self.set_text_color(_GREY if grey else 0)
        self._ready(text)
        self.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")

    def section(self, title: str) -> None:
        self.ln(3)
        self.say(title, size=11, bold=True)
        self.ln(1)

    def grid(
        self,
        headings: Sequence[str],
        widths: Sequence[float],
        aligns: Sequence[Align],
        rows: Iterable[Row],
    ) -> None:
        """A table with a filled heading row, repeated at the top of each page it runs onto.

        Drawn with one `cell` per non-empty line of a cell, wrapped here: fpdf2's `table()` lays
        every cell out twice with `multi_cell` (about 2.5 ms a statement line, most of a long
        statement's time), for a layout that needs no more than words wrapped in a column."""
        scale = self.epw / sum(widths)
        columns = [w * scale for w in widths]
        margin = self.c_margin
        self.c_margin = _CELL_PAD_X
        try:
            self._row(headings, columns, aligns, None)
            for cells, style in rows:
                self._row(cells, columns, aligns, style, headings)
        finally:
            self.c_margin = margin

    def _row(
        self,
        cells: Sequence[str],
        columns: Sequence[float],
        aligns: Sequence[Align],
        style: RowStyle | None,
        headings: Sequence[str] = (),
    ) -> None:
        heading = style is None
        size = PRIMARY.size if style is None else style.size
        self.set_font(MAIN_FAMILY, "B" if heading else "", size)
        wrapped = [
            self._wrap(text, width - 2 * _CELL_PAD_X)
            for text, width in zip(cells, columns, strict=True)
        ]
        height = max(len(lines) for lines in wrapped) * _LINE_HEIGHT + 2 * _CELL_PAD_Y
        if not heading and self.y + height > self.page_break_trigger:
            self.add_page()
            self._row(headings, columns, aligns, None)
            self.set_font(MAIN_FAMILY, "", size)
        top, width = self.y, sum(columns)
        if heading:
            self.set_fill_color(_HEADING_FILL)
            self.rect(self.l_margin, top, width, height, style="F")
        self.set_text_color(_GREY if style is not None and style.grey else 0)
        x = self.l_margin
        for lines, column, align in zip(wrapped, columns, aligns, strict=True):
            for n, line in enumerate(lines):
                if line:
                    self._ready(line)
                    self.set_xy(x, top + _CELL_PAD_Y + n * _LINE_HEIGHT)
                    self.cell(column, _LINE_HEIGHT, line, align=align)
            x += column
        self.line(self.l_margin, top + height, self.l_margin + width, top + height)
        self.set_xy(self.l_margin, top + height)

    def _width(self, text: str) -> float:
        """What `get_string_width` says, from a table of advances per font and character for
        text drawn unshaped: fpdf2's own measure re-splits the text by font every time (a third
        of a long statement's time went there)."""
        if needs_shaping(text):
            self._shape(text)
            return self.get_string_width(text)
        self._shape("")
        key = (self.font_family, self.font_style)
        advances = self._advances.setdefault(key, {})
        em = 0.0
        for char in text:
            advance = advances.get(char)
            if advance is None:
                advance = advances[char] = self.get_string_width(char) / self.font_size
            em += advance
        return em * self.font_size

    def _wrap(self, text: str, width: float) -> list[str]:
        """`text` in lines no wider than `width`: at spaces, or inside a word longer than a line;
        no more lines than fit on a page (the last one then ends in "…")."""
        lines: list[str] = []
        for paragraph in text.split("\n"):
            if self._width(paragraph) <= width:
                lines.append(paragraph)
                continue
            current = ""
            for word in paragraph.split(" "):
                candidate = f"{current} {word}" if current else word
                if self._width(candidate) <= width:
                    current = candidate
                    continue
                if current:
                    lines.append(current)
                rest = word
                while len(rest) > 1 and self._width(rest) > width:
                    cut = self._fitting(rest, width)
                    lines.append(rest[:cut])
                    rest = rest[cut:]
                current = rest
            lines.append(current)
        most = int((self.page_break_trigger - self.t_margin) / _LINE_HEIGHT) - 3
        if len(lines) > most:
            lines = [*lines[: most - 1], "…"]
        return lines

    def _fitting(self, word: str, width: float) -> int:
        """How many leading characters of `word` fit in `width` (at least one), by bisection:
        a word of thousands of characters must not cost thousands of measurements a line."""
        low, high = 1, len(word)
        while low < high:
            middle = (low + high + 1) // 2
            if self._width(word[:middle]) <= width:
                low = middle
            else:
                high = middle - 1
        return low
