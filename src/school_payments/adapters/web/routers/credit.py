"""Student payments (one sum over several invoices, answered with a receipt) and credit."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from school_payments.adapters.representation.credit import (
    CreditBalancesOut,
    CreditEntryOut,
    CreditPayoutOut,
    ReceiptOut,
)
from school_payments.adapters.representation.resources import Listing
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
from school_payments.adapters.web.schemas import PayoutCreate, StudentPaymentCreate
from school_payments.application.commands.credit import PayOutCredit, RecordStudentPayment

router = APIRouter(prefix="/api/v1", tags=["student payments and credit"])


@router.post(
    "/students/{student_id}/payments",
    status_code=201,
    response_model=ReceiptOut,
    responses=problems(400, 404, 413, 422),
    openapi_extra=body(StudentPaymentCreate),
    description=(
        "Pays the student's open invoices in `currency`, earliest `due_date` first (then"
        " earliest `issued_at`, then creation order): each share is an ordinary payment with this"
        " receipt's `receipt_id`; what is left goes to the student's credit. All or nothing."
        " `method: credit` is refused (422): credit pays one invoice at a time."
    ),
)
async def record_student_payment(
    student_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    data, payload = await read_body(request, StudentPaymentCreate)
    command = RecordStudentPayment(
        student_id=path_id(student_id, "student"),
        amount=payload.amount,
        currency=payload.currency,
        method=payload.method.value,
        paid_at=payload.paid_at,
        reference=payload.reference,
    )
    return await create(
        request,
        caller,
        services,
        body=data,
        handler=services.commands.record_student_payment,
        command=command,
        shape=ReceiptOut,
        location="/api/v1/receipts/{id}",
    )


@router.get("/receipts/{receipt_id}", response_model=ReceiptOut, responses=problems(404))
async def get_receipt(receipt_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    receipt = await services.queries.credit.receipt(caller, path_id(receipt_id, "receipt"))
    return JsonResponse(ReceiptOut.of(receipt))


@router.get(
    "/students/{student_id}/credit", response_model=CreditBalancesOut, responses=problems(404)
)
async def get_credit(student_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    found = await services.queries.credit.balances(caller, path_id(student_id, "student"))
    return JsonResponse(CreditBalancesOut.of(found))


@router.get(
    "/students/{student_id}/credit/entries",
    response_model=Listing[CreditEntryOut],
    responses=problems(404, 422),
)
async def list_credit_entries(
    student_id: str, caller: CallerDep, services: ServicesDep, page: PageDep
) -> Response:
    found = await services.queries.credit.entries(caller, path_id(student_id, "student"), page)
    return JsonResponse(Listing[CreditEntryOut].of(found))


@router.post(
    "/students/{student_id}/credit/payouts",
    status_code=201,
    response_model=CreditPayoutOut,
    responses=problems(400, 404, 409, 413, 422),
    openapi_extra=body(PayoutCreate),
    description="Hands credit back to the payer. More than the balance: `insufficient_credit`.",
)
async def pay_out_credit(
    student_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    data, payload = await read_body(request, PayoutCreate)
    command = PayOutCredit(
        student_id=path_id(student_id, "student"),
        amount=payload.amount,
        currency=payload.currency,
        reason=payload.reason,
        reference=payload.reference,
    )
    return await create(
        request,
        caller,
        services,
        body=data,
        handler=services.commands.pay_out_credit,
        command=command,
        shape=CreditPayoutOut,
        location="/api/v1/credit-payouts/{id}",
    )


@router.get("/credit-payouts/{payout_id}", response_model=CreditPayoutOut, responses=problems(404))
async def get_credit_payout(payout_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    payout = await services.queries.credit.payout(caller, path_id(payout_id, "credit payout"))
    return JsonResponse(CreditPayoutOut.of(payout))
