"""Webhook endpoints of a school, their delivery attempts, and resending an event."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from school_payments.adapters.representation.resources import Listing
from school_payments.adapters.representation.webhooks import (
    DeliveryAttemptOut,
    WebhookEndpointCreatedOut,
    WebhookEndpointOut,
)
from school_payments.adapters.web.requests import (
    CallerDep,
    PageDep,
    ServicesDep,
    json_body,
    path_id,
    validated,
)
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.routers._docs import body, problems
from school_payments.adapters.web.schemas import WebhookEndpointCreate, WebhookEndpointPatch
from school_payments.application.commands.unset import UNSET
from school_payments.application.commands.webhooks import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    ResendEvent,
    UpdateWebhookEndpoint,
)

router = APIRouter(prefix="/api/v1", tags=["events and webhooks"])

_URL_RULE = (
    " `url` must be `https://` with a host that resolves to public addresses only (else 422;"
    " checked again at every delivery); `WEBHOOK_ALLOW_PRIVATE_URLS=true` allows `http://` and"
    " private addresses, for development."
)


@router.post(
    "/schools/{school_id}/webhook-endpoints",
    status_code=201,
    response_model=WebhookEndpointCreatedOut,
    responses=problems(400, 415, 404, 413, 422),
    openapi_extra=body(WebhookEndpointCreate),
    description=(
        "The operator or the school's own key. The response alone shows the signing `secret`"
        " (`whsec_…`, Standard Webhooks). `Idempotency-Key` is ignored here: a response"
        " holding a secret is never stored." + _URL_RULE
    ),
)
async def create_webhook_endpoint(
    school_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    payload = validated(WebhookEndpointCreate, await json_body(request))
    command = CreateWebhookEndpoint(
        school_id=path_id(school_id, "school"),
        url=payload.url,
        event_types=tuple(dict.fromkeys(str(t) for t in payload.event_types)),
        description=payload.description,
    )
    endpoint = await services.commands.create_webhook_endpoint(command, caller)
    return JsonResponse(
        WebhookEndpointCreatedOut.of(endpoint),
        status_code=201,
        headers={
            "Location": f"/api/v1/webhook-endpoints/{endpoint.id}",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/schools/{school_id}/webhook-endpoints",
    response_model=Listing[WebhookEndpointOut],
    responses=problems(404, 422),
)
async def list_webhook_endpoints(
    school_id: str, caller: CallerDep, services: ServicesDep, page: PageDep
) -> Response:
    found = await services.queries.webhooks.list(caller, path_id(school_id, "school"), page)
    return JsonResponse(Listing[WebhookEndpointOut].of(found))


@router.get(
    "/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointOut, responses=problems(404)
)
async def get_webhook_endpoint(
    endpoint_id: str, caller: CallerDep, services: ServicesDep
) -> Response:
    endpoint = await services.queries.webhooks.get(caller, path_id(endpoint_id, "webhook endpoint"))
    return JsonResponse(WebhookEndpointOut.of(endpoint))


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpointOut,
    responses=problems(400, 415, 404, 413, 422),
    openapi_extra=body(WebhookEndpointPatch),
    description="`enabled: true` enables a disabled endpoint again." + _URL_RULE,
)
async def update_webhook_endpoint(
    endpoint_id: str, request: Request, caller: CallerDep, services: ServicesDep
) -> Response:
    payload = validated(WebhookEndpointPatch, await json_body(request))
    sent = payload.model_fields_set
    command = UpdateWebhookEndpoint(
        path_id(endpoint_id, "webhook endpoint"),
        url=payload.url if "url" in sent else UNSET,
        event_types=tuple(dict.fromkeys(str(t) for t in payload.event_types))
        if "event_types" in sent
        else UNSET,
        description=payload.description if "description" in sent else UNSET,
        enabled=payload.enabled if "enabled" in sent else UNSET,
    )
    endpoint = await services.commands.update_webhook_endpoint(command, caller)
    return JsonResponse(WebhookEndpointOut.of(endpoint))


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, responses=problems(404, 413))
async def delete_webhook_endpoint(
    endpoint_id: str, caller: CallerDep, services: ServicesDep
) -> Response:
    command = DeleteWebhookEndpoint(path_id(endpoint_id, "webhook endpoint"))
    await services.commands.delete_webhook_endpoint(command, caller)
    return Response(status_code=204)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=Listing[DeliveryAttemptOut],
    responses=problems(404, 422),
    description="Every delivery attempt to this endpoint, oldest first.",
)
async def list_webhook_deliveries(
    endpoint_id: str, caller: CallerDep, services: ServicesDep, page: PageDep
) -> Response:
    found = await services.queries.webhooks.attempts(
        caller, path_id(endpoint_id, "webhook endpoint"), page
    )
    return JsonResponse(Listing[DeliveryAttemptOut].of(found))


@router.post(
    "/events/{event_id}/resend",
    status_code=202,
    responses={
        202: {"description": "Queued again for every enabled endpoint that takes its type"},
        **problems(404, 413),
    },
)
async def resend_event(event_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    queued = await services.commands.resend_event(ResendEvent(path_id(event_id, "event")), caller)
    return JsonResponse({"queued": queued}, status_code=202)
