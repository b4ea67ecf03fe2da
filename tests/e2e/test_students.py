"""Students: enrolment, listing, changes, and deletion that archives when history exists."""

from __future__ import annotations

from tests.support.api import Api


async def test_enrolling_a_student_returns_it_with_its_location(api: Api) -> None:
    school = await api.school()
    response = await api.post(
        f"/api/v1/schools/{school['id']}/students",
        json={"first_name": "Zoë", "last_name": "Müller", "external_id": "A-1"},
    )
    assert response.status_code == 201
    student = response.json()
    assert response.headers["location"] == f"/api/v1/students/{student['id']}"
    assert student["school_id"] == school["id"]
    assert student["status"] == "active"
    assert student["archived_at"] is None


async def test_an_external_id_is_unique_within_a_school_only(api: Api) -> None:
    first, second = await api.school(), await api.school()
    await api.student(first["id"], external_id="A-1")
    duplicate = await api.post(
        f"/api/v1/schools/{first['id']}/students",
        json={"first_name": "B", "last_name": "C", "external_id": "A-1"},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "duplicate_external_id"
    assert (await api.student(second["id"], external_id="A-1"))["external_id"] == "A-1"


async def test_changing_an_external_id_to_a_taken_one_is_refused(api: Api) -> None:
    school = await api.school()
    await api.student(school["id"], external_id="A-1")
    other = await api.student(school["id"], external_id="A-2")
    response = await api.patch(f"/api/v1/students/{other['id']}", json={"external_id": "A-1"})
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_external_id"
    cleared = await api.patch(f"/api/v1/students/{other['id']}", json={"external_id": None})
    assert cleared.status_code == 200
    assert cleared.json()["external_id"] is None


async def test_a_student_without_invoices_is_deleted_for_good(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    assert (await api.delete(f"/api/v1/students/{student['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/students/{student['id']}")).status_code == 404


async def test_a_student_with_invoices_is_archived_not_deleted(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"])
    assert (await api.delete(f"/api/v1/students/{student['id']}")).status_code == 204

    archived = (await api.get(f"/api/v1/students/{student['id']}")).json()
    assert archived["status"] == "archived"
    assert archived["archived_at"] is not None
    statement = await api.get(f"/api/v1/students/{student['id']}/statement")
    assert statement.status_code == 200
    assert statement.json()["invoices"][0]["id"] == invoice["id"]

    refused = await api.post(
        f"/api/v1/students/{student['id']}/invoices",
        json={"amount": 1000, "due_date": "2026-12-01", "description": "More"},
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "student_archived"
    # Money still owed by an archived student can still be paid.
    assert (await api.payment(invoice["id"], amount=1000))["amount"] == 1000
    # Deleting again is harmless.
    assert (await api.delete(f"/api/v1/students/{student['id']}")).status_code == 204


async def test_archived_students_are_listed_only_when_asked_for(api: Api) -> None:
    school = await api.school()
    active = await api.student(school["id"], first_name="Active")
    archived = await api.student(school["id"], first_name="Archived")
    await api.invoice(archived["id"])
    await api.delete(f"/api/v1/students/{archived['id']}")

    listed = (await api.get(f"/api/v1/schools/{school['id']}/students")).json()["data"]
    assert [s["id"] for s in listed] == [active["id"]]
    everyone = await api.get(f"/api/v1/schools/{school['id']}/students?include_archived=true")
    assert [s["id"] for s in everyone.json()["data"]] == [active["id"], archived["id"]]
    bad = await api.get(f"/api/v1/schools/{school['id']}/students?include_archived=maybe")
    assert bad.status_code == 422


async def test_students_of_a_missing_school_are_not_found(api: Api) -> None:
    missing = "01a20c0e-3763-70c0-8427-b70767570684"
    assert (await api.get(f"/api/v1/schools/{missing}/students")).status_code == 404
    enrol = await api.post(
        f"/api/v1/schools/{missing}/students", json={"first_name": "A", "last_name": "B"}
    )
    assert enrol.status_code == 404


async def test_an_invalid_body_is_reported_before_a_missing_school(api: Api) -> None:
    missing = "01a20c0e-3763-70c0-8427-b70767570684"
    response = await api.post(f"/api/v1/schools/{missing}/students", json={"first_name": ""})
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert ("body", "first_name") in locations
    assert ("body", "last_name") in locations


async def test_student_names_are_checked_on_change(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"], first_name="Ana")
    for body in ({"first_name": None}, {"last_name": " "}, {"first_name": "x" * 101}, {"x": 1}):
        response = await api.patch(f"/api/v1/students/{student['id']}", json=body)
        assert response.status_code == 422, body
    renamed = await api.patch(f"/api/v1/students/{student['id']}", json={"first_name": "Ána"})
    assert renamed.json()["first_name"] == "Ána"
