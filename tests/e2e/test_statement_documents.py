"""Statements over HTTP as PDF and CSV, with ETag / If-None-Match, and the citable snapshot_id.

The PDF is read back with poppler's `pdftotext` and `pdftoppm` (Debian package `poppler-utils`);
without them these tests fail, and say what to install.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.tiers import require


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


async def _billed_student(api: Api) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """A student with non-Latin names, invoices in three currencies, and two payments."""
    school = await api.school(name="Colegio Nguyễn 山田", timezone="America/Mexico_City")
    student = await api.student(
        school["id"], first_name="Айгерим", last_name="山田", external_id="AK-7"
    )
    tuition = await api.invoice(
        student["id"], amount=150_000, currency="MXN", description="Colegiatura, noviembre"
    )
    books = await api.invoice(
        student["id"], amount=5_000, currency="JPY", description='=HYPERLINK("x")'
    )
    trip = await api.invoice(
        student["id"], amount=1_234_567, currency="KWD", due_date="2026-10-01", description="Viaje"
    )
    await api.payment(tuition["id"], amount=50_000, reference="美咲-1")
    await api.payment(trip["id"], amount=4_567, method="bank_transfer")
    return school, student, [tuition, books, trip]


async def _statement(api: Api, path: str, accept: str | None = None, **headers: str) -> Any:
    if accept is not None:
        headers["Accept"] = accept
    response = await api.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response


def _snapshot(response: httpx.Response) -> str:
    found: str = response.json()["snapshot_id"]
    return found


# -- PDF -----------------------------------------------------------------------------------------


@pytest.mark.poppler
async def test_a_student_statement_prints_as_a_pdf_with_every_name_and_figure(
    api: Api, tmp_path: Path
) -> None:
    _, student, _ = await _billed_student(api)
    path = f"/api/v1/students/{student['id']}/statement"
    snapshot = _snapshot(await _statement(api, path))

    response = await _statement(api, path, "application/pdf")
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="statement-{student["id"]}-2026-11-24.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    pdf = tmp_path / "statement.pdf"
    pdf.write_bytes(response.content)
    text = " ".join(_poppler("pdftotext", str(pdf), "-").decode().split())
    for expected in (
        "Colegio Nguyễn 山田",
        "Айгерим 山田",
        "AK-7",
        "As of 2026-11-24",
        "ref. 美咲-1",
        "1,500.00 MXN",
        "500.00 MXN",
        "1,000.00 MXN",
        "5,000 JPY",
        "1,234.567 KWD",
        "4.567 KWD",
        "1,230.000 KWD",
        "Overdue",
        snapshot,
        "Page 1 of 1",
    ):
        assert expected in text, expected

    _poppler("pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p"))
    png = (tmp_path / "p-1.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 2_000  # a page with text on it, not a blank one


@pytest.mark.poppler
async def test_a_school_statement_prints_its_page_of_students_as_a_pdf(
    api: Api, tmp_path: Path
) -> None:
    school, _, _ = await _billed_student(api)
    await api.student(school["id"], first_name="José", last_name="Nguyễn")
    await api.student(school["id"], first_name="Layla", last_name="Al-Khatib")
    base = f"/api/v1/schools/{school['id']}/statement"

    response = await _statement(api, f"{base}?limit=2", "application/pdf")
    pdf = tmp_path / "school.pdf"
    pdf.write_bytes(response.content)
    text = " ".join(_poppler("pdftotext", str(pdf), "-").decode().split())
    for expected in ("Айгерим 山田", "José Nguyễn", "1,500.00 MXN", "5,000 JPY", "Page 1 of 1"):
        assert expected in text, expected
    assert "Al-Khatib" not in text  # on the next page of students
    next_link = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers["link"])
    assert next_link is not None

    following = await _statement(api, next_link.group(1), "application/pdf")
    pdf.write_bytes(following.content)
    assert "Layla Al-Khatib" in _poppler("pdftotext", str(pdf), "-").decode()
    assert "link" not in following.headers


# -- CSV -----------------------------------------------------------------------------------------


def _csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


async def test_the_student_csv_reads_back_to_the_figures_of_the_json(api: Api) -> None:
    _, student, _ = await _billed_student(api)
    path = f"/api/v1/students/{student['id']}/statement"
    statement = (await _statement(api, path)).json()

    response = await _statement(api, path, "text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="statement-{student["id"]}-2026-11-24.csv"'
    )
    rows = _csv_rows(response)
    invoices = [r for r in rows if r["line"] == "invoice"]
    assert [
        {
            "id": r["invoice_id"],
            "currency": r["currency"],
            "amount": int(r["amount"]),
            "amount_paid": int(r["amount_paid"]),
            "amount_remaining": int(r["amount_remaining"]),
            "status": r["status"],
            "days_overdue": int(r["days_overdue"]),
            "due_date": r["due_date"],
        }
        for r in invoices
    ] == [
        {k: i[k] for k in ("id", "currency", "amount", "amount_paid", "amount_remaining")}
        | {k: i[k] for k in ("status", "days_overdue", "due_date")}
        for i in statement["invoices"]
    ]
    payments = [r for r in rows if r["line"] == "payment"]
    assert [
        (p["invoice_id"], p["payment_id"], int(p["amount"]), p["reference"]) for p in payments
    ] == [
        (i["id"], p["id"], p["amount"], p["reference"] or "")
        for i in statement["invoices"]
        for p in i["payments"]
    ]
    for currency_totals in statement["totals"]:
        mine = [r for r in invoices if r["currency"] == currency_totals["currency"]]
        assert sum(int(r["amount"]) for r in mine) == currency_totals["invoiced"]
        assert sum(int(r["amount_paid"]) for r in mine) == currency_totals["paid"]
    assert [r["amount_formatted"] for r in invoices] == [
        "1,500.00 MXN",
        "5,000 JPY",
        "1,234.567 KWD",
    ]
    assert invoices[1]["description"] == '\'=HYPERLINK("x")'  # a spreadsheet shows it as text
    assert invoices[0]["description"] == "Colegiatura, noviembre"


async def test_the_school_csv_reads_back_to_the_figures_of_the_json(api: Api) -> None:
    school, _, _ = await _billed_student(api)
    await api.student(school["id"], first_name="=cmd", last_name="@Nakamura")
    path = f"/api/v1/schools/{school['id']}/statement"
    statement = (await _statement(api, path)).json()

    rows = _csv_rows(await _statement(api, path, "text/csv"))
    expected = []
    for line in statement["students"]["data"]:
        for t in line["totals"] or [None]:
            expected.append(
                (
                    line["student_id"],
                    line["first_name"],
                    t and t["currency"],
                    t and (t["invoiced"], t["paid"], t["outstanding"], t["overdue"]),
                )
            )
    assert [
        (
            r["student_id"],
            r["first_name"].removeprefix("'"),
            r["currency"] or None,
            (int(r["invoiced"]), int(r["paid"]), int(r["outstanding"]), int(r["overdue"]))
            if r["currency"]
            else None,
        )
        for r in rows
    ] == expected
    assert (rows[-1]["first_name"], rows[-1]["last_name"]) == ("'=cmd", "'@Nakamura")


# -- negotiation ---------------------------------------------------------------------------------


async def test_accept_chooses_the_representation_with_its_q_values(api: Api) -> None:
    _, student, _ = await _billed_student(api)
    path = f"/api/v1/students/{student['id']}/statement"
    for accept, content_type in (
        ("application/pdf;q=0.5, text/csv", "text/csv; charset=utf-8; header=present"),
        ("text/csv;q=0.5, application/pdf", "application/pdf"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("image/png, */*;q=0.1", "application/json"),
    ):
        response = await _statement(api, path, accept)
        assert response.headers["content-type"] == content_type, accept
        assert response.headers["vary"] == "Accept"
    assert (await _statement(api, path)).headers["content-type"] == "application/json"


async def test_an_accept_that_names_no_representation_is_406(api: Api) -> None:
    school, student, _ = await _billed_student(api)
    for path in (
        f"/api/v1/students/{student['id']}/statement",
        f"/api/v1/schools/{school['id']}/statement",
    ):
        response = await api.get(path, headers={"Accept": "image/png"})
        assert response.status_code == 406
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_acceptable"
        assert "x-cache" not in response.headers
        assert "etag" not in response.headers


# -- ETag and If-None-Match ----------------------------------------------------------------------


async def test_a_matching_if_none_match_answers_304_without_a_body(api: Api) -> None:
    school, student, _ = await _billed_student(api)
    for path in (
        f"/api/v1/students/{student['id']}/statement",
        f"/api/v1/schools/{school['id']}/statement",
    ):
        for accept in ("application/json", "application/pdf", "text/csv"):
            first = await _statement(api, path, accept)
            etag = first.headers["etag"]
            assert re.fullmatch(r'"sha256:[0-9a-f]{64}-[a-z]+\.\d+"', etag), etag
            assert first.headers["cache-control"] == "private, no-cache"

            for if_none_match in (etag, f'"other", {etag}', f"W/{etag}", "*"):
                again = await api.get(
                    path, headers={"Accept": accept, "If-None-Match": if_none_match}
                )
                assert again.status_code == 304, if_none_match
                assert again.content == b""
                assert again.headers["etag"] == etag
                assert again.headers["x-cache"] in ("HIT", "MISS", "BYPASS")
                assert again.headers["x-request-id"]
                assert again.headers["cache-control"] == "private, no-cache"
                assert "content-type" not in again.headers

            other = await api.get(path, headers={"Accept": accept, "If-None-Match": '"other"'})
            assert other.status_code == 200
            assert other.content == first.content


async def test_json_pdf_and_csv_of_one_snapshot_have_different_etags(api: Api) -> None:
    _, student, _ = await _billed_student(api)
    path = f"/api/v1/students/{student['id']}/statement"
    snapshot = _snapshot(await _statement(api, path))
    tags = [
        (await _statement(api, path, a)).headers["etag"]
        for a in ("*/*", "application/pdf", "text/csv")
    ]
    assert len(set(tags)) == 3
    assert all(snapshot in tag for tag in tags)

    pdf_etag = tags[1]
    response = await api.get(path, headers={"If-None-Match": pdf_etag})  # asks for JSON
    assert response.status_code == 200


async def test_an_error_is_never_a_304(api: Api) -> None:
    _, student, _ = await _billed_student(api)
    path = f"/api/v1/students/{student['id']}/statement"
    etag = (await _statement(api, path)).headers["etag"]
    other = await api.school()
    other_key = await api.school_key(other["id"])

    hidden = await api.get(path, key=other_key, headers={"If-None-Match": etag})
    assert hidden.status_code == 404
    missing = await api.get(
        "/api/v1/students/01900000-0000-7000-8000-000000000000/statement",
        headers={"If-None-Match": "*"},
    )
    assert missing.status_code == 404
    bad_day = await api.get(f"{path}?as_of=2099-01-01", headers={"If-None-Match": "*"})
    assert bad_day.status_code == 422
    for response in (hidden, missing, bad_day):
        assert "etag" not in response.headers


# -- the snapshot id -----------------------------------------------------------------------------


async def test_a_client_can_recompute_the_snapshot_id_from_the_json(api: Api) -> None:
    school, student, _ = await _billed_student(api)
    for path in (
        f"/api/v1/students/{student['id']}/statement",
        f"/api/v1/schools/{school['id']}/statement",
    ):
        document = (await _statement(api, path)).json()
        content = {k: v for k, v in document.items() if k not in ("snapshot_id", "generated_at")}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        assert document["snapshot_id"] == f"sha256:{digest}"


async def test_the_snapshot_changes_exactly_when_a_figure_changes(
    pg_url: str, clock: FixedClock
) -> None:
    short_ttl = settings_for(pg_url, statement_cache_ttl_seconds=1)
    async with (
        running_api(short_ttl, clock) as api,
        running_api(settings_for(pg_url, statement_cache_ttl_seconds=0), clock) as uncached,
    ):
        school, student, invoices = await _billed_student(api)
        classmate = await api.student(school["id"], first_name="美咲", last_name="Nakamura")
        classmate_invoice = await api.invoice(classmate["id"], amount=20_000)
        student_path = f"/api/v1/students/{student['id']}/statement"
        school_path = f"/api/v1/schools/{school['id']}/statement"

        async def read(on: Api, path: str) -> tuple[str, str, str, str]:
            response = await _statement(on, path)
            body = response.json()
            return (
                response.headers["x-cache"],
                body["snapshot_id"],
                response.headers["etag"],
                body["generated_at"],
            )

        cache, first, etag, built = await read(api, student_path)
        assert cache == "MISS"
        assert (await read(api, student_path))[:3] == ("HIT", first, etag)

        clock.advance(seconds=30)  # a later build time, the same day and figures
        await asyncio.sleep(1.1)  # the cache entry expires
        cache, again, again_etag, rebuilt = await read(api, student_path)
        assert (cache, again, again_etag) == ("MISS", first, etag)
        assert rebuilt != built
        cache, uncached_snapshot, uncached_etag, _ = await read(uncached, student_path)
        assert (cache, uncached_snapshot, uncached_etag) == ("BYPASS", first, etag)
        school_first = (await read(api, school_path))[1]

        await api.payment(classmate_invoice["id"], amount=1_000)  # another student's figure
        assert (await read(api, student_path))[1] == first
        school_after = (await read(api, school_path))[1]
        assert school_after != school_first

        await api.payment(invoices[1]["id"], amount=1)  # one yen
        _, after, after_etag, _ = await read(api, student_path)
        assert after != first
        assert after_etag != etag
        assert (await read(uncached, student_path))[1] == after
        assert (await read(api, school_path))[1] != school_after
        stale = await api.get(student_path, headers={"If-None-Match": etag})
        assert stale.status_code == 200

        earlier = await _statement(api, f"{student_path}?as_of=2026-11-23")
        assert earlier.json()["snapshot_id"] not in (first, after)


# -- issue 19: names in any script, labelled counts, formulas after a separator -----------------


@pytest.mark.poppler
async def test_a_thai_devanagari_and_tamil_name_print_and_a_cancelled_invoice_is_labelled(
    api: Api, tmp_path: Path
) -> None:
    school = await api.school(name="โรงเรียน स्कूल", timezone="Asia/Bangkok")
    student = await api.student(school["id"], first_name="สมชาย", last_name="தமிழ்")
    await api.invoice(student["id"], amount=80_000, currency="MXN", description="Cuota")
    cancelled = await api.invoice(student["id"], amount=30_000, currency="MXN")
    response = await api.post(f"/api/v1/invoices/{cancelled['id']}/cancel")
    assert response.status_code < 300, response.text

    path = f"/api/v1/students/{student['id']}/statement"
    pdf = tmp_path / "statement.pdf"
    pdf.write_bytes((await _statement(api, path, "application/pdf")).content)
    text = " ".join(_poppler("pdftotext", str(pdf), "-").decode().split())
    assert "Student: สมชาย தமிழ்" in text
    assert "โรงเรียน" in text
    assert "2 (incl. 1 cancelled)" in text
    assert "800.00 MXN" in text


async def test_a_formula_after_a_semicolon_reaches_the_csv_as_quoted_text(api: Api) -> None:
    school = await api.school(name="Schule")
    student = await api.student(school["id"], first_name="x;=cmd|' /C calc'!A0;")
    await api.invoice(student["id"], amount=100, currency="MXN", description="a;@SUM(A1)")
    path = f"/api/v1/students/{student['id']}/statement"
    body = (await _statement(api, path, "text/csv")).content
    assert b'"\'a;@SUM(A1)"' in body
