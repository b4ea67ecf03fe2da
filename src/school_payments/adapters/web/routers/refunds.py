"""Refunds of payments and credit notes on invoices: corrections that are records of their own."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from school_payments.adapters.representation.resources import CreditNoteOut, Listing, RefundOut
from school_payments.adapters.web.creating import create
from school_payments.adapters.web.requests import (
    CallerDep,
    PageDep,
    ServicesDep,
    path_id,
    read_body,
)
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.routers._docs import body, problems
from school_payments.adapters.web.schemas import CreditNoteCreate, RefundCreate
from school_payments.application.commands.corrections import IssueCreditNote, RefundPayment

router = APIRouter(prefix="/api/v1", tags=["refunds and credit notes"])


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    responses=problems(400, 404, 409, 413, 422),
    openapi_extra=body(RefundCreate),
    description=(
        "`amount` defaults to all that is still refundable. Refusals in this order: 422 (a"
        " `refunded_at` in the future or before the payment's `paid_at`), 404,"
        " `refund_exceeds_payment`. A payment made from credit is refunded to the student's"
        " credit. Safe under any number of concurrent refunds, payments and credit notes."
    ),
)
async def refund_payment(
    payment_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    data, payload = await read_body(request, RefundCreate)
    command = RefundPayment(
        payment_id=path_id(payment_id, "payment"),
        amount=payload.amount,
        reason=payload.reason,
        refunded_at=payload.refunded_at,
    )
    return await create(
        request,
        caller,
        services,
        body=data,
        handler=services.commands.refund_payment,
        command=command,
        shape=RefundOut,
        location="/api/v1/refunds/{id}",
    )


@router.get("/refunds/{refund_id}", response_model=RefundOut, responses=problems(404))
async def get_refund(refund_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    refund = await services.queries.refunds.get(caller, path_id(refund_id, "refund"))
    return JsonResponse(RefundOut.of(refund))


@router.get(
    "/payments/{payment_id}/refunds",
    response_model=Listing[RefundOut],
    responses=problems(404, 422),
)
async def list_payment_refunds(
    payment_id: str, caller: CallerDep, services: ServicesDep, page: PageDep
) -> Response:
    found = await services.queries.refunds.list_for_payment(
        caller, path_id(payment_id, "payment"), page
    )
    return JsonResponse(Listing[RefundOut].of(found))


@router.post(
    "/invoices/{invoice_id}/credit-notes",
    status_code=201,
    response_model=CreditNoteOut,
    responses=problems(400, 404, 409, 413, 422),
    openapi_extra=body(CreditNoteCreate),
    description=(
        "Forgives part of what an invoice owes (scholarship, discount, billing error); it can"
        " settle the invoice. Refusals in this order: 422, 404, `invoice_not_creditable` (PAID or"
        " CANCELLED), `credit_exceeds_remaining`."
    ),
)
async def issue_credit_note(
    invoice_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    data, payload = await read_body(request, CreditNoteCreate)
    command = IssueCreditNote(
        invoice_id=path_id(invoice_id, "invoice"),
        amount=payload.amount,
        reason=payload.reason,
        issued_at=payload.issued_at,
    )
    return await create(
        request,
        caller,
        services,
        body=data,
        handler=services.commands.issue_credit_note,
        command=command,
        shape=CreditNoteOut,
        location="/api/v1/credit-notes/{id}",
    )


@router.get("/credit-notes/{credit_note_id}", response_model=CreditNoteOut, responses=problems(404))
async def get_credit_note(
    credit_note_id: str, caller: CallerDep, services: ServicesDep
) -> Response:
    note = await services.queries.credit_notes.get(caller, path_id(credit_note_id, "credit note"))
    return JsonResponse(CreditNoteOut.of(note))


@router.get(
    "/invoices/{invoice_id}/credit-notes",
    response_model=Listing[CreditNoteOut],
    responses=problems(404, 422),
)
async def list_invoice_credit_notes(
    invoice_id: str, caller: CallerDep, services: ServicesDep, page: PageDep
) -> Response:
    found = await services.queries.credit_notes.list_for_invoice(
        caller, path_id(invoice_id, "invoice"), page
    )
    return JsonResponse(Listing[CreditNoteOut].of(found))
