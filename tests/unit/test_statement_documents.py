"""Statement documents: the snapshot id, content negotiation, validators, CSV and PDF renderings.

The PDF checks read the documents back with poppler's `pdftotext` and `pdftoppm` (Debian package
`poppler-utils`); without them these tests fail, and say what to install.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from school_payments.adapters.representation.json import ResponseModel
from school_payments.adapters.representation.statements import (
    JsonStatementRenderer,
    SchoolStatementOut,
    StudentStatementOut,
    shape_of,
    snapshot_id,
)
from school_payments.adapters.web.documents import rendering
from school_payments.adapters.web.documents.csv_document import (
    SCHOOL_COLUMNS,
    neutralised,
    school_csv,
    student_csv,
)
from school_payments.adapters.web.documents.negotiation import (
    CSV,
    JSON,
    PDF,
    entity_tag,
    negotiate,
    none_match,
)
from school_payments.adapters.web.documents.pdf import school_statement_pdf, student_pdf
from school_payments.adapters.web.documents.pdf_layout import StatementPdf
from school_payments.adapters.web.documents.reading import (
    school_document,
    snapshot_of,
    student_document,
)
from school_payments.application.pagination import Page
from school_payments.application.read_models import (
    Aging,
    CurrencyTotals,
    SchoolStatement,
    StatusCounts,
    StudentLine,
    StudentStatement,
    StudentTotals,
)
from school_payments.domain.currency import Currency
from school_payments.domain.entities import Invoice, School, Student
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money
from tests.support.logs import captured_logs
from tests.support.tiers import require
from tests.unit.builders import (
    NOW,
    TODAY,
    a_cancelled_invoice,
    a_school,
    a_student,
    an_invoice,
    mxn,
    pay,
)

JPY = Currency.of("JPY")
KWD = Currency.of("KWD")


def _totals(invoices: Sequence[Invoice], **extra: Any) -> list[CurrencyTotals]:
    found = []
    for code in sorted({i.currency.code for i in invoices}):
        mine = [i for i in invoices if i.currency.code == code]
        invoiced = sum(i.amount.amount for i in mine)
        paid = sum(i.amount_paid.amount for i in mine)
        found.append(
            CurrencyTotals(
                code,
                invoiced=invoiced,
                credited=0,
                paid=paid,
                outstanding=invoiced - paid,
                overdue=0,
                invoice_count=len(mine),
                credit_balance=0,
                status_counts=StatusCounts(pending=len(mine)),
                aging=Aging(current=invoiced - paid),
                refunded=0,
                **extra,
            )
        )
    return found


def _student_json(student: Student, school: School, invoices: Sequence[Invoice]) -> bytes:
    statement = StudentStatement(student, school, TODAY, NOW, _totals(invoices), list(invoices))
    return JsonStatementRenderer().student(statement)


def _a_statement() -> StudentStatement:
    """A student with a name in Cyrillic and Japanese, invoices in MXN, JPY and KWD."""
    school = a_school(name="Colegio Nguyễn", timezone="America/Mexico_City")
    student = a_student(school, first_name="Айгерим", last_name="山田")
    tuition = an_invoice(student, amount=mxn(150_000), description="Colegiatura noviembre")
    pay(tuition, 50_000)
    books = an_invoice(student, amount=Money(5_000, JPY), description="教科書")
    trip = an_invoice(student, amount=Money(1_234_567, KWD), description='=HYPERLINK("x")')
    invoices = [tuition, books, trip]
    return StudentStatement(student, school, TODAY, NOW, _totals(invoices), invoices)


def _a_statement_json() -> bytes:
    return JsonStatementRenderer().student(_a_statement())


# -- the snapshot id -----------------------------------------------------------------------------


def test_the_snapshot_id_is_a_sha256_of_the_content_without_the_build_time() -> None:
    document = json.loads(_a_statement_json())
    content = {k: v for k, v in document.items() if k not in ("snapshot_id", "generated_at")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert document["snapshot_id"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert next(iter(document)) == "snapshot_id"


def test_a_rebuild_with_the_same_figures_has_the_same_snapshot_id() -> None:
    statement = _a_statement()
    renderer = JsonStatementRenderer()
    first = json.loads(renderer.student(statement))
    rebuilt = json.loads(
        renderer.student(replace(statement, generated_at=NOW + timedelta(hours=3)))
    )
    assert rebuilt["generated_at"] != first["generated_at"]
    assert rebuilt["snapshot_id"] == first["snapshot_id"]
    assert snapshot_id(dict(reversed(list(first.items())))) == first["snapshot_id"]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["invoices"][0]["payments"][0].update(amount=50_001),
        lambda d: d["invoices"][0].update(amount_remaining=1),
        lambda d: d["totals"][0].update(paid=d["totals"][0]["paid"] + 1),
        lambda d: d["totals"][0]["aging"].update(current=0),
        lambda d: d.update(as_of="2026-11-23"),
        lambda d: d["student"].update(first_name="Aigerim"),
        lambda d: d["school"].update(name="Colegio Nguyen"),
        lambda d: d["invoices"].pop(),
    ],
    ids=["payment", "line", "total", "aging", "as_of", "student", "school", "lines"],
)
def test_the_snapshot_id_changes_with_anything_the_statement_shows(change: Any) -> None:
    document = json.loads(_a_statement_json())
    change(document)
    assert snapshot_id(document) != document["snapshot_id"]


def test_the_snapshot_id_is_read_from_the_start_of_the_document() -> None:
    body = _a_statement_json()
    assert snapshot_of(body) == json.loads(body)["snapshot_id"]


# -- the shape in the cache keys -----------------------------------------------------------------


class _Before(ResponseModel):
    amount: int


class _After(ResponseModel):
    amount: int
    credited: int


def test_the_document_shape_changes_when_a_field_is_added() -> None:
    assert shape_of(_Before) == shape_of(_Before)
    assert shape_of(_Before) != shape_of(_After)


def test_the_renderer_names_the_shape_of_both_statement_models() -> None:
    shape = JsonStatementRenderer().shape
    assert shape == shape_of(StudentStatementOut, SchoolStatementOut)
    assert shape != shape_of(StudentStatementOut)


# -- content negotiation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/*", "json"),
        ("application/json", "json"),
        ("application/json, application/problem+json", "json"),
        ("application/pdf", "pdf"),
        ("APPLICATION/PDF", "pdf"),
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("text/*", "csv"),
        ("application/pdf;q=0.5, text/csv", "csv"),
        ("text/csv;q=0.2, application/pdf;q=0.9", "pdf"),
        ("*/*;q=0.1, application/pdf", "pdf"),
        ("application/pdf;q=0, */*", "json"),
        ("application/json;q=0, */*", "pdf"),
        ("application/json;q=0, application/pdf;q=0, */*;q=0.5", "csv"),
        ("image/png, */*;q=0.01", "json"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json"),
        ("application/pdf;q=0.500, text/csv;q=0.499", "pdf"),
        ("not a media type", "json"),  # nothing readable: as if absent
        ("application/pdf;q=2", "json"),  # an impossible q leaves that range out
        ("image/png", None),
        ("image/png, text/html", None),
        ("*/*;q=0", None),
        ("application/pdf;q=0", None),
        ("application/pdf;q=abc, image/png", None),
    ],
)
def test_accept_chooses_the_representation_by_q_value(accept: str | None, chosen: str) -> None:
    found = negotiate(accept)
    assert (found.name if found else None) == chosen


# -- validators ----------------------------------------------------------------------------------


def test_each_representation_of_a_snapshot_has_its_own_strong_entity_tag() -> None:
    tags = {entity_tag("sha256:ab", r) for r in (JSON, PDF, CSV)}
    assert len(tags) == 3
    assert all(t.startswith('"sha256:ab') and t.endswith('"') for t in tags)
    assert not any(t.startswith("W/") for t in tags)


@pytest.mark.parametrize(
    ("fields", "matches"),
    [
        (['"x"'], True),
        (['W/"x"'], True),  # If-None-Match compares weakly
        (['"a", "x"'], True),
        (['"a"', '"x"'], True),  # the field repeated
        (['"a" ,W/"x" , "b"'], True),
        (["*"], True),
        (['"y"'], False),
        (['"x-pdf"'], False),
        (["x"], False),  # not an entity tag: ignored
        (['"x" "a"'], False),  # malformed: ignored whole
        ([""], False),
        ([], False),
    ],
)
def test_if_none_match_names_the_current_tag(fields: list[str], matches: bool) -> None:
    assert none_match(fields, '"x"') is matches


# -- CSV -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("＝1+1", "'＝1+1"),
        ("Colegiatura = 2", "Colegiatura = 2"),
        # A separator of some locale, then a formula: the spreadsheet splits and runs it.
        ("x;=cmd|' /C calc'!A0;", "'x;=cmd|' /C calc'!A0;"),
        ("x,+1", "'x,+1"),
        ("x\t@SUM(A1)", "'x\t@SUM(A1)"),
        ("x; -2+3", "'x; -2+3"),
        ("x\n=1+1", "'x\n=1+1"),
        ("x；＝1", "'x；＝1"),
        # Blanks before the formula do not make it text.
        ("  =1+1", "'  =1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("Al-Khatib", "Al-Khatib"),
        ("2026-11-24", "2026-11-24"),
        ("Uniform; size M", "Uniform; size M"),
        ("Айгерим", "Айгерим"),
        ("", ""),
    ],
)
def test_a_cell_that_a_spreadsheet_would_run_as_a_formula_is_neutralised(
    text: str, shown: str
) -> None:
    assert neutralised(text) == shown


def test_a_formula_after_a_separator_is_quoted_and_neutralised_in_the_csv() -> None:
    school = a_school()
    student = a_student(school, first_name="x;=cmd|' /C calc'!A0;")
    body = _student_json(student, school, [an_invoice(student, description="a;=1+1")])
    written = student_csv(student_document(body))
    # Quoted, so a `;` locale keeps it one cell; prefixed, so that cell is text.
    assert b'"\'a;=1+1"' in written
    assert _rows(written)[0]["description"] == "'a;=1+1"


def _rows(body: bytes) -> list[dict[str, str]]:
    assert b"\r\n" in body  # RFC 4180 line breaks
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_the_student_csv_reads_back_to_the_json_figures() -> None:
    body = _a_statement_json()
    document = json.loads(body)
    rows = _rows(student_csv(student_document(body)))
    invoices = [r for r in rows if r["line"] == "invoice"]
    payments = [r for r in rows if r["line"] == "payment"]
    assert [
        (r["invoice_id"], r["currency"], int(r["amount"]), int(r["amount_paid"]), r["status"])
        for r in invoices
    ] == [
        (i["id"], i["currency"], i["amount"], i["amount_paid"], i["status"])
        for i in document["invoices"]
    ]
    assert [(p["payment_id"], int(p["amount"])) for p in payments] == [
        (p["id"], p["amount"]) for i in document["invoices"] for p in i["payments"]
    ]
    assert [r["amount_formatted"] for r in invoices] == [
        "1,500.00 MXN",
        "5,000 JPY",
        "1,234.567 KWD",
    ]
    assert invoices[1]["description"] == "教科書"
    assert invoices[2]["description"] == '\'=HYPERLINK("x")'


def test_a_description_with_commas_quotes_and_line_breaks_survives_the_csv() -> None:
    school = a_school()
    student = a_student(school)
    text = 'Uniform, size "M"\nand shoes'
    body = _student_json(student, school, [an_invoice(student, description=text)])
    rows = _rows(student_csv(student_document(body)))
    assert rows[0]["description"] == text


def _school_json(lines: list[StudentLine], next_after: Any = None) -> bytes:
    school = a_school(name="Escola Müller")
    totals = [
        CurrencyTotals("MXN", 300, 0, 100, 200, 0, 2, 0, StatusCounts(), Aging(current=200), 0, 1),
    ]
    statement = SchoolStatement(school, TODAY, NOW, totals, Page(lines, next_after))
    return JsonStatementRenderer().school(statement)


def test_the_school_csv_has_a_line_per_student_and_currency() -> None:
    school = a_school()
    with_two = a_student(school, first_name="美咲", last_name="-Nakamura")
    without = a_student(school, first_name="José", last_name="Nguyễn")
    body = _school_json(
        [
            StudentLine(
                with_two,
                [
                    StudentTotals("JPY", 5_000, 0, 0, 5_000, 5_000, 1, 0),
                    StudentTotals("MXN", 300, 0, 100, 200, 0, 2, 0),
                ],
            ),
            StudentLine(without, []),
        ]
    )
    rows = _rows(school_csv(school_document(body)))
    assert tuple(rows[0]) == SCHOOL_COLUMNS
    assert [(r["first_name"], r["last_name"], r["currency"], r["outstanding"]) for r in rows] == [
        ("美咲", "'-Nakamura", "JPY", "5000"),
        ("美咲", "'-Nakamura", "MXN", "200"),
        ("José", "Nguyễn", "", ""),
    ]
    assert rows[0]["overdue_formatted"] == "5,000 JPY"
    assert rows[1]["paid_formatted"] == "1.00 MXN"


# -- PDF -----------------------------------------------------------------------------------------


def _poppler(tool: str, *args: str) -> bytes:
    require("poppler")
    found = shutil.which(tool)
    if found is None:
        pytest.fail(
            f"`{tool}` is not installed: it comes with Debian's poppler-utils"
            " (apt-get install -y poppler-utils)",
            pytrace=False,
        )
    return subprocess.run([found, *args], check=True, capture_output=True, timeout=60).stdout


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf)
    return " ".join(_poppler("pdftotext", str(path), "-").decode().split())


@pytest.mark.poppler
def test_the_student_pdf_shows_names_amounts_and_the_snapshot(tmp_path: Path) -> None:
    body = _a_statement_json()
    pdf = student_pdf(student_document(body))
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf, tmp_path)
    for expected in (
        "Colegio Nguyễn",
        "Айгерим 山田",
        "As of 2026-11-24",
        "教科書",
        "1,500.00 MXN",
        "500.00 MXN",
        "1,000.00 MXN",
        "5,000 JPY",
        "1,234.567 KWD",
        json.loads(body)["snapshot_id"],
        "Page 1 of 1",
    ):
        assert expected in text


@pytest.mark.poppler
def test_a_long_statement_runs_over_numbered_pages(tmp_path: Path) -> None:
    school = a_school()
    student = a_student(school)
    invoices = [an_invoice(student, description=f"Cuota {n}") for n in range(80)]
    text = _text(student_pdf(student_document(_student_json(student, school, invoices))), tmp_path)
    pages = int(text.split("Page 1 of ")[1].split()[0])
    assert pages >= 2
    assert f"Page {pages} of {pages}" in text
    assert "Cuota 79" in text


def test_the_same_snapshot_always_gives_the_same_pdf_bytes() -> None:
    document = student_document(_a_statement_json())
    assert student_pdf(document) == student_pdf(document)


@pytest.mark.poppler
def test_the_cjk_font_is_embedded_only_when_a_name_needs_it(tmp_path: Path) -> None:
    def fonts(body: bytes) -> str:
        path = tmp_path / "fonts.pdf"
        path.write_bytes(student_pdf(student_document(body)))
        return _poppler("pdffonts", str(path)).decode()

    school = a_school()
    latin = a_student(school, first_name="Zoë", last_name="Müller")
    assert "DroidSansFallback" not in fonts(_student_json(latin, school, []))
    assert "DroidSansFallback" in fonts(_a_statement_json())


def _letters(text: str) -> str:
    """Text without blanks or bidi controls: pdftotext spaces some shaped clusters apart."""
    return "".join(c for c in text if not c.isspace() and c not in "\u202a\u202b\u202c")


@pytest.mark.poppler
@pytest.mark.parametrize(
    ("name", "font"),
    [
        ("สมชาย ใจดี", "NotoSansThai"),
        ("देवनागरी शर्मा", "NotoSansDevanagari"),
        ("தமிழ் செல்வி", "NotoSansTamil"),
        ("বাংলা রায়", "NotoSansBengali"),
        ("محمد علي", "DejaVuSans"),
        ("שרה כהן", "DejaVuSans"),
        ("山田 美咲", "DroidSansFallback"),
        ("Ana 🦄", "Symbola"),
    ],
)
def test_a_name_in_any_major_script_is_printed_not_dropped(
    name: str, font: str, tmp_path: Path
) -> None:
    school = a_school()
    first, last = name.split(" ")
    student = a_student(school, first_name=first, last_name=last)
    invoice = an_invoice(student, description=f"Colegiatura {name}")
    path = tmp_path / "statement.pdf"
    path.write_bytes(student_pdf(student_document(_student_json(student, school, [invoice]))))
    text = _letters(_poppler("pdftotext", str(path), "-").decode())
    assert f"Student:{_letters(name)}" in text or f"Student:{_letters(last + first)}" in text
    assert "\ufffd" not in text
    assert font in _poppler("pdffonts", str(path)).decode()


@pytest.mark.poppler
def test_a_character_no_bundled_font_has_is_shown_as_a_replacement(tmp_path: Path) -> None:
    school = a_school()
    student = a_student(school, first_name="Ana\U00013000", last_name="Lee")
    pdf = student_pdf(student_document(_student_json(student, school, [])))
    assert "Student: Ana\ufffd Lee" in _text(pdf, tmp_path)


@pytest.mark.poppler
def test_a_word_longer_than_its_column_is_broken_not_lost(tmp_path: Path) -> None:
    school = a_school()
    student = a_student(school)
    word = "".join(f"{n:04d}" for n in range(75))
    body = _student_json(student, school, [an_invoice(student, description=word)])
    text = _letters(_text(student_pdf(student_document(body)), tmp_path))
    # The first piece shares its line with the row's other cells; the rest follow one another.
    assert word[:8] in text
    assert word[-200:] in text


@pytest.mark.poppler
def test_page_numbers_are_right_past_a_thousand_pages(tmp_path: Path) -> None:
    pdf = StatementPdf(title="t", snapshot_id="sha256:x", as_of="2026-11-24", texts=["山田"])
    for n in range(1_001):
        pdf.add_page()
        pdf.say("山田" if n % 2 else "x")
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf.finish())
    first = _poppler("pdftotext", "-l", "1", str(path), "-").decode()
    last = _poppler("pdftotext", "-f", "1001", str(path), "-").decode()
    assert "Page 1 of 1001" in first
    assert "Page 1001 of 1001" in last


@pytest.mark.poppler
def test_cancelled_invoices_are_named_beside_the_count(tmp_path: Path) -> None:
    school = a_school()
    student = a_student(school)
    kept = an_invoice(student, amount=mxn(80_000))
    cancelled = a_cancelled_invoice(student)
    totals = [
        CurrencyTotals(
            "MXN", 80_000, 0, 0, 80_000, 0, 2, 0, StatusCounts(pending=1, cancelled=1), Aging(), 0
        )
    ]
    statement = StudentStatement(student, school, TODAY, NOW, totals, [kept, cancelled])
    body = JsonStatementRenderer().student(statement)
    text = _text(student_pdf(student_document(body)), tmp_path)
    assert "2 (incl. 1 cancelled)" in text
    assert "800.00 MXN" in text


def test_a_pdf_logs_few_lines_and_never_the_names_it_prints() -> None:
    school = a_school()
    student = a_student(school, first_name="Somchai", last_name="สมชาย")
    body = _student_json(student, school, [an_invoice(student)])
    with captured_logs("INFO") as logs:
        student_pdf(student_document(body))
    assert "Somchai" not in logs.text
    assert "สมชาย" not in logs.text
    assert "\\u0e2a" not in logs.text.lower()
    assert len(logs.lines()) < 3


@pytest.mark.poppler
def test_the_school_pdf_lists_the_page_of_students(tmp_path: Path) -> None:
    school = a_school()
    students = [
        a_student(school, first_name="美咲", last_name="Nakamura"),
        a_student(school, first_name="Layla", last_name="Al-Khatib"),
    ]
    body = _school_json(
        [
            StudentLine(students[0], [StudentTotals("MXN", 300, 0, 100, 200, 0, 2, 0)]),
            StudentLine(students[1], []),
        ],
        next_after=new_id(),
    )
    text = _text(school_statement_pdf(school_document(body)), tmp_path)
    for expected in (
        "Escola Müller",
        "School statement",
        "美咲 Nakamura",
        "Layla Al-Khatib",
        "3.00 MXN",
        "2.00 MXN",
        "More students follow",
        json.loads(body)["snapshot_id"],
        "Page 1 of 1",
    ):
        assert expected in text


# -- where documents are drawn -------------------------------------------------------------------


async def _never_gone() -> bool:
    return False


async def test_identical_concurrent_requests_share_one_render(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    release = threading.Event()

    def slow(owner: rendering.Owner, body: bytes, kind: rendering.Format) -> rendering.Rendered:
        calls.append(kind)
        release.wait(10)
        return rendering.Rendered(b"drawn", "2026-11-24")

    monkeypatch.setattr(rendering, "render", slow)
    renderer = rendering.Renderer(workers=0)
    waiting = [
        asyncio.create_task(renderer.rendered("etag", "student", b"{}", "pdf", _never_gone))
        for _ in range(5)
    ]
    await asyncio.sleep(0.1)
    release.set()
    results = await asyncio.gather(*waiting)
    assert calls == ["pdf"]
    assert {r.body for r in results if r is not None} == {b"drawn"}


async def test_a_render_nobody_waits_for_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    async def gone() -> bool:
        return True

    started = asyncio.get_running_loop().create_future()
    monkeypatch.setattr(rendering.Renderer, "_start", lambda *_: started)
    renderer = rendering.Renderer(workers=0)
    assert await renderer.rendered("etag", "student", b"{}", "pdf", gone) is None
    assert started.cancelled()


async def test_a_pdf_drawn_in_the_process_pool_is_the_same_document() -> None:
    body = _a_statement_json()
    renderer = rendering.Renderer(workers=1)
    try:
        drawn = await renderer.rendered("etag", "student", body, "pdf", _never_gone)
    finally:
        renderer.close()
    assert drawn is not None
    assert drawn.body == student_pdf(student_document(body))
