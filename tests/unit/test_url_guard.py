"""SSRF protection: webhook URLs must be https:// to public addresses, checked at creation and
again at every delivery (against DNS rebinding)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from school_payments.adapters.webhooks.sender import HttpWebhookSender
from school_payments.adapters.webhooks.url_guard import PublicUrlGuard
from school_payments.application.events import Event, EventType
from school_payments.application.ports.webhooks import UnsafeUrlError
from school_payments.domain.ids import new_id
from school_payments.domain.webhooks import WebhookEndpoint
from tests.unit.builders import a_student


def _resolving_to(*answers: list[str]) -> tuple[PublicUrlGuard, list[str]]:
    """A guard whose DNS gives these answers, one per lookup (the last one repeats)."""
    asked: list[str] = []

    async def resolve(host: str, _port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return PublicUrlGuard(resolver=resolve), asked


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not https
        "https://127.0.0.1/x",  # loopback
        "https://10.1.2.3/x",  # private
        "https://192.168.0.10/x",
        "https://172.16.5.4/x",
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[::1]/x",
        "https://[fe80::1]/x",
        "https://[fc00::1]/x",  # unique local
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped loopback
        "https://[::ffff:10.0.0.1]/x",
        "https://[64:ff9b::a00:1]/x",  # NAT64 of 10.0.0.1
        "https://0.0.0.0/x",
        "https://100.64.0.1/x",  # shared address space (CGNAT)
        "https://224.0.0.1/x",  # multicast
        "https://user:pw@hooks.example.com/x",
        "https:///x",
        "not a url",
    ],
)
async def test_urls_that_are_not_https_to_a_public_address_are_refused(url: str) -> None:
    guard, _ = _resolving_to(["93.184.216.34"])
    with pytest.raises(UnsafeUrlError):
        await guard.check(url)


async def test_a_host_resolving_to_any_private_address_is_refused() -> None:
    guard, _ = _resolving_to(["93.184.216.34", "10.0.0.7"])
    with pytest.raises(UnsafeUrlError, match="non-public"):
        await guard.check("https://hooks.example.com/x")


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    async def fail(_host: str, _port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        await PublicUrlGuard(resolver=fail).check("https://nowhere.invalid/x")


async def test_https_to_a_public_address_is_accepted() -> None:
    guard, asked = _resolving_to(["93.184.216.34", "2606:2800:220:1::1"])
    await guard.check("https://hooks.example.com:8443/x?y=1")
    assert asked == ["hooks.example.com"]


async def test_allowing_private_urls_accepts_http_and_loopback_without_dns() -> None:
    guard = PublicUrlGuard(allow_private=True)
    await guard.check("http://127.0.0.1:8080/x")
    await guard.check("http://receiver:9000/x")
    with pytest.raises(UnsafeUrlError):
        await guard.check("ftp://127.0.0.1/x")


async def test_a_host_rebound_to_a_private_address_after_creation_is_refused_at_delivery() -> None:
    guard, asked = _resolving_to(["93.184.216.34"], ["127.0.0.1"])
    url = "https://rebind.example.com/hooks"
    await guard.check(url)  # at creation: public
    now = datetime(2026, 11, 24, tzinfo=UTC)
    endpoint = WebhookEndpoint(
        id=new_id(),
        school_id=new_id(),
        url=url,
        event_types=("*",),
        description=None,
        secret="whsec_" + "A" * 43 + "=",
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    event = Event(new_id(), EventType.STUDENT_CREATED, endpoint.school_id, now, subject=None)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be sent, got one to {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        result = await HttpWebhookSender(client, guard).send(endpoint, event)
    assert not result.ok
    assert result.error is not None
    assert "non-public" in result.error
    assert asked == ["rebind.example.com", "rebind.example.com"]


async def test_the_sender_connects_to_the_address_it_checked_keeping_the_host_name() -> None:
    guard, _ = _resolving_to(["93.184.216.34"])
    student = a_student()
    now = datetime(2026, 11, 24, tzinfo=UTC)
    endpoint = WebhookEndpoint(
        id=new_id(),
        school_id=student.school_id,
        url="https://hooks.example.com/in",
        event_types=("*",),
        description=None,
        secret="whsec_" + "A" * 43 + "=",
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    event = Event(new_id(), EventType.STUDENT_CREATED, student.school_id, now, subject=student)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        result = await HttpWebhookSender(client, guard).send(endpoint, event)
    assert result.ok
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34/in"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.headers["webhook-id"] == str(event.id)
