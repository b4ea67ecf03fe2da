from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from school_payments.adapters.representation.resources import (
    InvoiceOut,
    InvoiceWithPaymentsOut,
    Listing,
)
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
from school_payments.adapters.web.schemas import InvoiceCreate, InvoicePatch
from school_payments.application.commands.invoices import (
    CancelInvoice,
    IssueInvoice,
    ReviseInvoice,
)
from school_payments.application.commands.unset import UNSET
from school_payments.application.read_models import InvoiceListView, InvoiceView
from school_payments.domain.entities import InvoiceStatus

router = APIRouter(prefix="/api/v1", tags=["invoices"])

StatusFilter = Annotated[
    InvoiceStatus | None, Query(description="how the invoice reads today (OVERDUE included)")
]


def _detail(view: InvoiceView) -> Response:
    return JsonResponse(InvoiceWithPaymentsOut.of(view))


def _listing(view: InvoiceListView) -> Response:
    return JsonResponse(Listing[InvoiceOut].of(view.invoices, day=view.day))


@router.post(
    "/students/{student_id}/invoices",
    status_code=201,
    response_model=InvoiceWithPaymentsOut,
    responses=problems(400, 415, 404, 409, 413, 422),
    openapi_extra=body(InvoiceCreate),
)
async def issue_invoice(
    student_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    data, payload = await read_body(request, InvoiceCreate)
    command = IssueInvoice(
        student_id=path_id(student_id, "student"),
        amount=payload.amount,
        due_date=payload.due_date,
        description=payload.description,
        currency=payload.currency,
        issued_at=payload.issued_at,
    )
    return await create(
        request,
        caller,
        services,
        body=data,
        handler=services.commands.issue_invoice,
        command=command,
        shape=InvoiceWithPaymentsOut,
        location="/api/v1/invoices/{id}",
    )


@router.get(
    "/invoices/{invoice_id}", response_model=InvoiceWithPaymentsOut, responses=problems(404)
)
async def get_invoice(invoice_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    view = await services.queries.invoices.get(caller, path_id(invoice_id, "invoice"))
    return _detail(view)


@router.get(
    "/students/{student_id}/invoices",
    response_model=Listing[InvoiceOut],
    responses=problems(404, 422),
)
async def list_student_invoices(
    student_id: str,
    caller: CallerDep,
    services: ServicesDep,
    page: PageDep,
    status: StatusFilter = None,
) -> Response:
    view = await services.queries.invoices.list_for_student(
        caller,
        path_id(student_id, "student"),
        status=status,
        page=page,
    )
    return _listing(view)


@router.get(
    "/schools/{school_id}/invoices",
    response_model=Listing[InvoiceOut],
    responses=problems(404, 422),
)
async def list_school_invoices(
    school_id: str,
    caller: CallerDep,
    services: ServicesDep,
    page: PageDep,
    status: StatusFilter = None,
    student_id: Annotated[UUID | None, Query()] = None,
) -> Response:
    view = await services.queries.invoices.list_for_school(
        caller,
        path_id(school_id, "school"),
        status=status,
        student_id=student_id,
        page=page,
    )
    return _listing(view)


@router.patch(
    "/invoices/{invoice_id}",
    response_model=InvoiceWithPaymentsOut,
    responses=problems(400, 415, 404, 409, 413, 422),
    openapi_extra=body(InvoicePatch),
    description="Only `description` and `due_date` change; `amount` and `currency` are immutable.",
)
async def revise_invoice(
    invoice_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    payload = validated(InvoicePatch, await json_body(request))
    sent = payload.model_fields_set
    command = ReviseInvoice(
        path_id(invoice_id, "invoice"),
        description=payload.description if "description" in sent else UNSET,
        due_date=payload.due_date if "due_date" in sent else UNSET,
    )
    return _detail(await services.commands.revise_invoice(command, caller))


@router.post(
    "/invoices/{invoice_id}/cancel",
    response_model=InvoiceWithPaymentsOut,
    responses=problems(404, 409, 413),
    description="Cancels an invoice without payments; a cancelled invoice is returned unchanged.",
)
async def cancel_invoice(invoice_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    command = CancelInvoice(path_id(invoice_id, "invoice"))
    return _detail(await services.commands.cancel_invoice(command, caller))
