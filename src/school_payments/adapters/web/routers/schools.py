from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from school_payments.adapters.representation.resources import Listing, SchoolOut
from school_payments.adapters.web.creating import create
from school_payments.adapters.web.requests import (
    CallerDep,
    OperatorDep,
    PageDep,
    ServicesDep,
    json_body,
    path_id,
    read_body,
    validated,
)
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.routers._docs import body, problems
from school_payments.adapters.web.schemas import SchoolCreate, SchoolPatch
from school_payments.application.commands.schools import CreateSchool, DeleteSchool, UpdateSchool
from school_payments.application.commands.unset import UNSET

router = APIRouter(prefix="/api/v1", tags=["schools"])


@router.post(
    "/schools",
    status_code=201,
    response_model=SchoolOut,
    responses=problems(400, 415, 403, 409, 413, 422),
    openapi_extra=body(SchoolCreate),
)
async def create_school(request: Request, caller: OperatorDep, services: ServicesDep) -> Response:
    data, payload = await read_body(request, SchoolCreate)
    command = CreateSchool(
        payload.name,
        payload.timezone,
        payload.default_currency,
        payload.reminder_days_before_due,
    )
    return await create(
        request,
        caller,
        services,
        body=data,
        handler=services.commands.create_school,
        command=command,
        shape=SchoolOut,
        location="/api/v1/schools/{id}",
    )


@router.get("/schools", response_model=Listing[SchoolOut], responses=problems(422))
async def list_schools(caller: CallerDep, services: ServicesDep, page: PageDep) -> Response:
    schools = await services.queries.schools.list(caller, page)
    return JsonResponse(Listing[SchoolOut].of(schools))


@router.get("/schools/{school_id}", response_model=SchoolOut, responses=problems(404))
async def get_school(school_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    school = await services.queries.schools.get(caller, path_id(school_id, "school"))
    return JsonResponse(SchoolOut.of(school))


@router.patch(
    "/schools/{school_id}",
    response_model=SchoolOut,
    responses=problems(400, 415, 404, 413, 422),
    openapi_extra=body(SchoolPatch),
)
async def update_school(
    school_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    payload = validated(SchoolPatch, await json_body(request))
    sent = payload.model_fields_set
    command = UpdateSchool(
        path_id(school_id, "school"),
        name=payload.name if "name" in sent else UNSET,
        timezone=payload.timezone if "timezone" in sent else UNSET,
        default_currency=payload.default_currency if "default_currency" in sent else UNSET,
        reminder_days_before_due=payload.reminder_days_before_due
        if "reminder_days_before_due" in sent
        else UNSET,
    )
    return JsonResponse(SchoolOut.of(await services.commands.update_school(command, caller)))


@router.delete("/schools/{school_id}", status_code=204, responses=problems(403, 404, 409, 413))
async def delete_school(school_id: str, caller: OperatorDep, services: ServicesDep) -> Response:
    await services.commands.delete_school(DeleteSchool(path_id(school_id, "school")), caller)
    return Response(status_code=204)
