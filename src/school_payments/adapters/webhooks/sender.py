"""POSTing events, signed per the Standard Webhooks specification (the `standardwebhooks`
package signs: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from school_payments.adapters.representation.events import EventOut
from school_payments.adapters.webhooks.url_guard import PublicUrlGuard
from school_payments.application.events import Event
from school_payments.application.ports.webhooks import SendResult, UnsafeUrlError
from school_payments.domain.webhooks import WebhookEndpoint

TIMEOUT_SECONDS = 10.0
"""A 2xx later than this is not a delivery (the contract's 10 s)."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def signed_headers(
    endpoint: WebhookEndpoint, event: Event, body: str, now: datetime
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "school-payments-webhooks/1",
        "webhook-id": str(event.id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(str(event.id), now, body),
    }


class HttpWebhookSender:
    """One POST per attempt, to the addresses the guard has just checked.

    The signature's timestamp is the wall clock's, never the business clock: receivers compare
    it with their own time.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        guard: PublicUrlGuard,
        *,
        timeout_seconds: float = TIMEOUT_SECONDS,
        now: Callable[[], datetime] = wall_clock,
    ) -> None:
        self._client = client
        self._guard = guard
        self._timeout = timeout_seconds
        self._now = now

    async def send(self, endpoint: WebhookEndpoint, event: Event) -> SendResult:
        started = time.monotonic()

        def elapsed_ms() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = await self._guard.target(endpoint.url)
        except UnsafeUrlError as error:
            return SendResult(None, f"refused: {error}", elapsed_ms())
        body = EventOut.of(event).to_json().decode()
        headers = signed_headers(endpoint, event, body, self._now())
        url = target.url.geturl()
        extensions: dict[str, str] = {}
        if target.addresses:
            # Connect to the checked address; Host and TLS (SNI, certificate) keep the name.
            address = target.addresses[0]
            literal = f"[{address}]" if ":" in address else address
            url = target.url._replace(netloc=f"{literal}:{target.port}").geturl()
            headers["host"] = target.url.netloc.rsplit("@", 1)[-1]
            extensions["sni_hostname"] = target.host
        try:
            response = await self._client.post(
                url,
                content=body.encode(),
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
                extensions=extensions,
            )
        except httpx.TimeoutException:
            return SendResult(None, f"no answer within {self._timeout:g} s", elapsed_ms())
        except httpx.HTTPError as error:
            return SendResult(None, f"{type(error).__name__}: {error}"[:500], elapsed_ms())
        duration = elapsed_ms()
        if duration > self._timeout * 1000:
            return SendResult(response.status_code, "answered after the timeout", duration)
        if 200 <= response.status_code < 300:
            return SendResult(response.status_code, None, duration)
        return SendResult(response.status_code, f"HTTP {response.status_code}", duration)
