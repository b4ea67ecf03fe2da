from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from school_payments.adapters.representation.resources import Listing, StudentOut
from school_payments.adapters.web.creating import create
from school_payments.adapters.web.requests import (
    CallerDep,
    PageDep,
    ServicesDep,
    json_body,
    path_id,
    read_body,
    validated,
)
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.routers._docs import body, problems
from school_payments.adapters.web.schemas import (
    StudentCreate,
    StudentPatch,
)
from school_payments.application.commands.students import (
    EnrollStudent,
    RemoveStudent,
    UpdateStudent,
)
from school_payments.application.commands.unset import UNSET

router = APIRouter(prefix="/api/v1", tags=["students"])


@router.post(
    "/schools/{school_id}/students",
    status_code=201,
    response_model=StudentOut,
    responses=problems(400, 415, 404, 409, 413, 422),
    openapi_extra=body(StudentCreate),
)
async def enroll_student(
    school_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    data, payload = await read_body(request, StudentCreate)
    command = EnrollStudent(
        path_id(school_id, "school"), payload.first_name, payload.last_name, payload.external_id
    )
    return await create(
        request,
        caller,
        services,
        body=data,
        handler=services.commands.enroll_student,
        command=command,
        shape=StudentOut,
        location="/api/v1/students/{id}",
    )


@router.get(
    "/schools/{school_id}/students",
    response_model=Listing[StudentOut],
    responses=problems(404, 422),
)
async def list_students(
    school_id: str,
    caller: CallerDep,
    services: ServicesDep,
    page: PageDep,
    include_archived: Annotated[bool, Query()] = False,
) -> Response:
    students = await services.queries.students.list(
        caller, path_id(school_id, "school"), include_archived=include_archived, page=page
    )
    return JsonResponse(Listing[StudentOut].of(students))


@router.get("/students/{student_id}", response_model=StudentOut, responses=problems(404))
async def get_student(student_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    student = await services.queries.students.get(caller, path_id(student_id, "student"))
    return JsonResponse(StudentOut.of(student))


@router.patch(
    "/students/{student_id}",
    response_model=StudentOut,
    responses=problems(400, 415, 404, 409, 413, 422),
    openapi_extra=body(StudentPatch),
)
async def update_student(
    student_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    payload = validated(StudentPatch, await json_body(request))
    sent = payload.model_fields_set
    command = UpdateStudent(
        path_id(student_id, "student"),
        first_name=payload.first_name if "first_name" in sent else UNSET,
        last_name=payload.last_name if "last_name" in sent else UNSET,
        external_id=payload.external_id if "external_id" in sent else UNSET,
    )
    return JsonResponse(StudentOut.of(await services.commands.update_student(command, caller)))


@router.delete(
    "/students/{student_id}",
    status_code=204,
    responses=problems(404, 413),
    description="Deletes a student without invoices for good; archives one with any invoice.",
)
async def remove_student(student_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    await services.commands.remove_student(RemoveStudent(path_id(student_id, "student")), caller)
    return Response(status_code=204)
