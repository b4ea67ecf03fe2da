"""A statement as an HTTP response: the representation the request chose, its validators, and
304 Not Modified when the client already holds the current one."""

from __future__ import annotations

from collections import OrderedDict
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from school_payments.adapters.web.documents.negotiation import (
    JSON,
    PDF,
    Representation,
    entity_tag,
    none_match,
)
from school_payments.adapters.web.documents.reading import snapshot_of
from school_payments.adapters.web.documents.rendering import Format, Owner, Rendered, renderer
from school_payments.application.read_models import RenderedStatement

CACHE_CONTROL = "private, no-cache"
"""Statements belong to one school, and a payment changes them at once: any cache that keeps
one must keep it to itself and ask again (If-None-Match) before each use."""

_CLIENT_GONE = 499
"""Never sent (nobody is left to read it): what the access log shows for a request whose
client left while its document was being drawn."""


class _RecentDocuments:
    """The last few renderings, by ETag. A rendering is a function of the snapshot alone (the PDF
    carries no build time), so an ETag names one body for good; drawing a PDF costs far more than
    the JSON query it comes from, and the same statement is often fetched a few times in a row."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._documents: OrderedDict[str, Rendered] = OrderedDict()

    def get(self, etag: str) -> Rendered | None:
        found = self._documents.get(etag)
        if found is not None:
            self._documents.move_to_end(etag)
        return found

    def put(self, etag: str, document: Rendered) -> None:
        self._documents[etag] = document
        self._documents.move_to_end(etag)
        while len(self._documents) > self._size:
            self._documents.popitem(last=False)


_recent = _RecentDocuments(size=32)


def _next_page(request: Request, cursor: str) -> str:
    url = request.url.include_query_params(cursor=cursor)
    return f'<{url.path}?{url.query}>; rel="next"'


async def statement_response(
    request: Request,
    statement: RenderedStatement,
    representation: Representation,
    *,
    owner: Owner,
    owner_id: UUID,
) -> Response:
    """The statement in `representation`, or 304 when `If-None-Match` names its current ETag."""
    etag = entity_tag(snapshot_of(statement.body), representation)
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept",
        "X-Cache": statement.cache,
    }
    if none_match(request.headers.getlist("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if representation is JSON:
        return Response(statement.body, headers=headers, media_type=JSON.content_type)
    document = _recent.get(etag)
    if document is None:
        # Drawn from the JSON the cache keeps, in the bounded pool, once for all the requests
        # that ask for this ETag meanwhile. (Only the event loop touches `_recent`: no lock.)
        kind: Format = "pdf" if representation is PDF else "csv"
        drawn = await renderer.rendered(etag, owner, statement.body, kind, request.is_disconnected)
        if drawn is None:
            return Response(status_code=_CLIENT_GONE)
        document = drawn
        _recent.put(etag, document)
    filename = f"statement-{owner_id}-{document.as_of}.{representation.name}"
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if document.next_cursor is not None:
        # The page's cursor is in the JSON body only; the other renderings point to it here.
        headers["Link"] = _next_page(request, document.next_cursor)
    return Response(document.body, headers=headers, media_type=representation.content_type)
