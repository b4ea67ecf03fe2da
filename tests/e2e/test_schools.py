"""Schools: create, list, read, change, delete — and the errors of each."""

from __future__ import annotations

from tests.support.api import Api


async def test_creating_a_school_returns_it_with_its_location(api: Api) -> None:
    response = await api.post("/api/v1/schools", json={"name": "  Colegio Norte  "})
    assert response.status_code == 201
    school = response.json()
    assert response.headers["location"] == f"/api/v1/schools/{school['id']}"
    assert school["name"] == "Colegio Norte"  # outer whitespace is not kept
    assert school["timezone"] == "UTC"
    assert school["default_currency"] is None
    assert school["created_at"].endswith("Z")
    assert (await api.get(response.headers["location"])).json() == school


async def test_schools_are_listed_in_creation_order_page_by_page(api: Api) -> None:
    created = [(await api.school(name=f"School {n}"))["id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.get(f"/api/v1/schools{query}")).json()
        assert len(page["data"]) <= 2
        seen += [school["id"] for school in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created


async def test_list_parameters_out_of_range_are_refused(api: Api) -> None:
    for query in ("limit=0", "limit=201", "limit=abc", "cursor=not-a-cursor"):
        response = await api.get(f"/api/v1/schools?{query}")
        assert response.status_code == 422, query
        assert response.json()["code"] == "validation_error"


async def test_a_school_can_be_renamed_moved_to_another_zone_and_lose_its_default_currency(
    api: Api,
) -> None:
    school = await api.school(default_currency="MXN")
    response = await api.patch(
        f"/api/v1/schools/{school['id']}",
        json={"name": "Nuevo", "timezone": "America/Bogota", "default_currency": None},
    )
    assert response.status_code == 200
    changed = response.json()
    assert (changed["name"], changed["timezone"], changed["default_currency"]) == (
        "Nuevo",
        "America/Bogota",
        None,
    )
    untouched = await api.patch(f"/api/v1/schools/{school['id']}", json={})
    assert untouched.json()["name"] == "Nuevo"


async def test_invalid_school_fields_are_refused_and_change_nothing(api: Api) -> None:
    school = await api.school(name="Original")
    for body in (
        {"name": None},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"timezone": "Mars/Olympus_Mons"},
        {"default_currency": "XXX"},
        {"default_currency": "mxn"},
        {"unknown": 1},
    ):
        response = await api.patch(f"/api/v1/schools/{school['id']}", json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"], body
    assert (await api.get(f"/api/v1/schools/{school['id']}")).json()["name"] == "Original"


async def test_a_school_without_students_is_deleted_for_good(api: Api) -> None:
    school = await api.school()
    assert (await api.delete(f"/api/v1/schools/{school['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/schools/{school['id']}")).status_code == 404


async def test_a_school_with_students_cannot_be_deleted(api: Api) -> None:
    school = await api.school()
    await api.student(school["id"])
    response = await api.delete(f"/api/v1/schools/{school['id']}")
    assert response.status_code == 409
    assert response.json()["code"] == "school_has_students"
    assert (await api.get(f"/api/v1/schools/{school['id']}")).status_code == 200


async def test_missing_and_malformed_school_ids_are_not_found(api: Api) -> None:
    for school_id in ("01a20c0e-3763-70c0-8427-b70767570684", "not-a-uuid", "1"):
        response = await api.get(f"/api/v1/schools/{school_id}")
        assert response.status_code == 404, school_id
        assert response.json()["code"] == "not_found"
