from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from school_payments.adapters.representation.resources import ApiKeyCreatedOut, ApiKeyOut, Listing
from school_payments.adapters.web.requests import OperatorDep, PageDep, ServicesDep, path_id
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.routers._docs import problems
from school_payments.application.commands.api_keys import CreateApiKey, RevokeApiKey

router = APIRouter(prefix="/api/v1", tags=["api keys"])


@router.post(
    "/schools/{school_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreatedOut,
    responses=problems(403, 404, 413),
    description="Operator only. The secret `key` is in this response only; keep it safe."
    " `Idempotency-Key` is ignored here: a response holding a secret is never stored.",
)
async def create_api_key(school_id: str, caller: OperatorDep, services: ServicesDep) -> Response:
    command = CreateApiKey(path_id(school_id, "school"))
    issued = await services.commands.create_api_key(command, caller)
    return JsonResponse(
        ApiKeyCreatedOut.of(issued),
        status_code=201,
        headers={"Location": f"/api/v1/schools/{school_id}/api-keys", "Cache-Control": "no-store"},
    )


@router.get(
    "/schools/{school_id}/api-keys",
    response_model=Listing[ApiKeyOut],
    responses=problems(403, 404, 422),
)
async def list_api_keys(
    school_id: str, caller: OperatorDep, services: ServicesDep, page: PageDep
) -> Response:
    keys = await services.queries.api_keys.list(caller, path_id(school_id, "school"), page)
    return JsonResponse(Listing[ApiKeyOut].of(keys))


@router.delete("/api-keys/{key_id}", status_code=204, responses=problems(403, 404, 413))
async def revoke_api_key(key_id: str, caller: OperatorDep, services: ServicesDep) -> Response:
    await services.commands.revoke_api_key(RevokeApiKey(path_id(key_id, "API key")), caller)
    return Response(status_code=204)
