"""The API under test, in process through ASGI, with builders that read like the domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from school_payments.adapters.web.app import create_api
from school_payments.main import Assembly, assemble
from school_payments.settings import Settings
from tests.support.clock import FixedClock

OPERATOR_KEY = "test-operator-key-0123456789"


class UnexpectedStatusError(AssertionError):
    pass


@dataclass
class Api:
    client: httpx.AsyncClient
    assembly: Assembly
    clock: FixedClock
    key: str | None = OPERATOR_KEY

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        chosen = self.key if key is None else key
        found = {"Authorization": f"Bearer {chosen}"} if chosen else {}
        found.update(extra)
        return found

    async def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return await self.client.request(
            method, path, headers={**self.headers(key), **(headers or {})}, **kwargs
        )

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)

    async def _created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.post(path, json=body)
        if response.status_code != 201:
            raise UnexpectedStatusError(f"POST {path} → {response.status_code}: {response.text}")
        found: dict[str, Any] = response.json()
        return found

    # -- builders --------------------------------------------------------------------------

    async def school(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Colegio Central", "timezone": "UTC", "default_currency": "MXN", **fields}
        return await self._created("/api/v1/schools", body)

    async def student(self, school_id: str, **fields: Any) -> dict[str, Any]:
        body = {"first_name": "Ana", "last_name": "García", **fields}
        return await self._created(f"/api/v1/schools/{school_id}/students", body)

    async def invoice(self, student_id: str, **fields: Any) -> dict[str, Any]:
        body = {"amount": 100_000, "due_date": "2026-12-01", "description": "Tuition", **fields}
        return await self._created(f"/api/v1/students/{student_id}/invoices", body)

    async def payment(self, invoice_id: str, **fields: Any) -> dict[str, Any]:
        body = {"amount": 10_000, "method": "cash", **fields}
        return await self._created(f"/api/v1/invoices/{invoice_id}/payments", body)

    async def refund(self, payment_id: str, **fields: Any) -> dict[str, Any]:
        return await self._created(f"/api/v1/payments/{payment_id}/refunds", fields)

    async def credit_note(self, invoice_id: str, **fields: Any) -> dict[str, Any]:
        body = {"reason": "Scholarship", **fields}
        return await self._created(f"/api/v1/invoices/{invoice_id}/credit-notes", body)

    async def student_payment(self, student_id: str, **fields: Any) -> dict[str, Any]:
        """A lump sum shared over the student's open invoices: the receipt, with its payments."""
        body = {"currency": "MXN", "method": "bank_transfer", **fields}
        return await self._created(f"/api/v1/students/{student_id}/payments", body)

    async def payout(self, student_id: str, **fields: Any) -> dict[str, Any]:
        body = {"currency": "MXN", **fields}
        return await self._created(f"/api/v1/students/{student_id}/credit/payouts", body)

    async def school_key(self, school_id: str) -> str:
        response = await self.post(f"/api/v1/schools/{school_id}/api-keys")
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key


@asynccontextmanager
async def running_api(settings: Settings, clock: FixedClock) -> AsyncIterator[Api]:
    assembly = assemble(settings, clock)
    app = create_api(assembly.services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        try:
            yield Api(client, assembly, clock)
        finally:
            await assembly.close()


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "admin_api_key": OPERATOR_KEY}
    values.update(overrides)
    return Settings(**values)
