"""The page layout of the PDF statements: A4, the bundled fonts, a footer with the snapshot id and
"Page N of M", and the few building blocks the statements are drawn with (fpdf2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal

from fpdf import FPDF
from fpdf.fonts import FontFace, TTFFont

FONTS = Path(__file__).with_name("fonts")
_FAMILY = "DejaVu"
_FALLBACK = "DroidFallback"
_GREY = 100
_RULE_GREY = 190
_HEADINGS = FontFace(emphasis="BOLD", fill_color=235)
SECONDARY = FontFace(color=_GREY, size_pt=7.5)

Align = Literal["L", "R", "C"]


def strings(value: Any) -> Iterator[str]:
    """Every text in a JSON document (to tell which fonts it needs)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


class StatementPdf(FPDF):
    """An A4 statement whose bytes depend on its content alone (no build time anywhere)."""

    def __init__(self, *, title: str, snapshot_id: str, as_of: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._snapshot_id = snapshot_id
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.add_font(_FAMILY, "", FONTS / "DejaVuSans.ttf")
        self.add_font(_FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
        self.set_title(title)
        self.set_creator("school-payments")
        self.set_producer("school-payments")
        # The as-of day, not the build time: the same snapshot must give the same bytes.
        self.set_creation_date(datetime.combine(date.fromisoformat(as_of), time(), UTC))
        self.set_draw_color(_RULE_GREY)

    def fall_back_for(self, texts: Iterable[str]) -> None:
        """Loads the CJK fallback font only when some text needs it (it takes a while to load)."""
        main = self.fonts[_FAMILY.lower()]
        assert isinstance(main, TTFFont)
        if any(ord(char) not in main.cmap for text in texts for char in text if char.isprintable()):
            self.add_font(_FALLBACK, "", FONTS / "DroidSansFallbackFull.ttf")
            # There is no bold fallback: bold CJK text is drawn in the regular weight.
            self.set_fallback_fonts([_FALLBACK], exact_match=False)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(_FAMILY, "", 7)
        self.set_text_color(_GREY)
        self.cell(0, 4, f"Snapshot {self._snapshot_id}", align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    # -- building blocks ------------------------------------------------------------------------

    def say(self, text: str, *, size: float = 9, bold: bool = False, grey: bool = False) -> None:
        self.set_font(_FAMILY, "B" if bold else "", size)
        self.set_text_color(_GREY if grey else 0)
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
        rows: Iterable[tuple[Sequence[str], FontFace | None]],
    ) -> None:
        self.set_font(_FAMILY, "", 8)
        self.set_text_color(0)
        with self.table(
            col_widths=widths,
            borders_layout="HORIZONTAL_LINES",
            headings_style=_HEADINGS,
            line_height=4.2,
            padding=(0.8, 1.2),
            width=self.epw,
        ) as table:
            for cells, style in [(headings, None), *rows]:
                row = table.row(style=style)
                for text, align in zip(cells, aligns, strict=True):
                    row.cell(text, align=align)
