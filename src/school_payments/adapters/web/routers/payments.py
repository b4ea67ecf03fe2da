from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from school_payments.adapters.observability import metrics
from school_payments.adapters.representation.resources import (
    Listing,
    PaymentOut,
    PaymentWithRefundsOut,
)
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
from school_payments.adapters.web.schemas import PaymentCreate
from school_payments.application.caller import Caller
from school_payments.application.commands.payments import RecordPayment
from school_payments.application.ports.idempotency_store import IdempotencyClaim
from school_payments.domain.entities import Payment

router = APIRouter(prefix="/api/v1", tags=["payments"])


@router.post(
    "/invoices/{invoice_id}/payments",
    status_code=201,
    response_model=PaymentWithRefundsOut,
    responses=problems(400, 415, 404, 409, 413, 422),
    openapi_extra=body(PaymentCreate),
    description=(
        "Refusals in this order: 404, `invoice_not_payable`, `currency_mismatch`,"
        " `payment_exceeds_remaining`, and for `method: credit` `insufficient_credit` (a"
        " payment from credit is made now: no `paid_at`). Safe under any number of concurrent"
        " requests."
    ),
)
async def record_payment(
    invoice_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    data, payload = await read_body(request, PaymentCreate)
    command = RecordPayment(
        invoice_id=path_id(invoice_id, "invoice"),
        amount=payload.amount,
        method=payload.method.value,
        currency=payload.currency,
        paid_at=payload.paid_at,
        reference=payload.reference,
    )

    async def record(
        command: RecordPayment, caller: Caller, claim: IdempotencyClaim | None
    ) -> Payment:
        payment = await services.commands.record_payment(command, caller, claim)
        metrics.PAYMENTS.labels(payment.currency.code).inc()
        return payment

    return await create(
        request,
        caller,
        services,
        body=data,
        handler=record,
        command=command,
        shape=PaymentWithRefundsOut,
        location="/api/v1/payments/{id}",
    )


@router.get("/payments/{payment_id}", response_model=PaymentWithRefundsOut, responses=problems(404))
async def get_payment(payment_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    payment = await services.queries.payments.get(caller, path_id(payment_id, "payment"))
    return JsonResponse(PaymentWithRefundsOut.of(payment))


@router.get(
    "/invoices/{invoice_id}/payments",
    response_model=Listing[PaymentOut],
    responses=problems(404, 422),
)
async def list_invoice_payments(
    invoice_id: str, caller: CallerDep, services: ServicesDep, page: PageDep
) -> Response:
    found = await services.queries.payments.list_for_invoice(
        caller, path_id(invoice_id, "invoice"), page
    )
    return JsonResponse(Listing[PaymentOut].of(found))
