"""The event outbox, read back: every change the API acknowledged, newest last."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from school_payments.adapters.representation.events import EventOut
from school_payments.adapters.representation.resources import Listing
from school_payments.adapters.web.fields import parse_timestamp
from school_payments.adapters.web.requests import CallerDep, PageDep, ServicesDep, path_id
from school_payments.adapters.web.responses import JsonResponse
from school_payments.adapters.web.routers._docs import problems
from school_payments.application.events import EventFilter, EventType
from school_payments.domain.errors import InvalidValueError

router = APIRouter(prefix="/api/v1", tags=["events and webhooks"])


@router.get(
    "/events",
    response_model=Listing[EventOut],
    responses=problems(422),
    description=(
        "A school key sees its own school's events; the operator every school's, or one"
        " school's with `?school_id=`. Oldest first (newest last). `?created_after=` is"
        " exclusive. Events are kept at least 30 days."
    ),
)
async def list_events(
    caller: CallerDep,
    services: ServicesDep,
    page: PageDep,
    event_type: Annotated[
        EventType | None, Query(alias="type", description="one event type")
    ] = None,
    created_after: Annotated[
        str | None, Query(description="RFC 3339; only events created after it (exclusive)")
    ] = None,
    school_id: Annotated[UUID | None, Query(description="one school's events")] = None,
) -> Response:
    after = None
    if created_after is not None:
        try:
            after = parse_timestamp(created_after)
        except ValueError as error:
            raise InvalidValueError("created_after", f"created_after {error}") from None
    where = EventFilter(type=event_type, created_after=after, school_id=school_id)
    found = await services.queries.events.list(caller, where, page)
    return JsonResponse(Listing[EventOut].of(found))


@router.get("/events/{event_id}", response_model=EventOut, responses=problems(404))
async def get_event(event_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    event = await services.queries.events.get(caller, path_id(event_id, "event"))
    return JsonResponse(EventOut.of(event))
