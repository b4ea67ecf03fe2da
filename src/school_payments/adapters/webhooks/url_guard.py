"""Which webhook URLs may be called: `https://` to hosts that resolve to public addresses only.

Asked at creation (a 422) and again at every delivery, where the sender connects to the very
addresses that were checked (so a DNS answer that changes between the check and the connection,
"DNS rebinding", cannot reach a private address).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from school_payments.application.ports.webhooks import UnsafeUrlError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: IpAddress) -> bool:
    """Globally routable unicast; an IPv4-mapped or -translated IPv6 address is judged by its
    IPv4 address (`::ffff:127.0.0.1` is loopback)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the addresses it resolved to (connect to these, not to a new answer)."""

    url: SplitResult
    host: str
    port: int
    addresses: list[str]


class PublicUrlGuard:
    """Refuses anything but https to public addresses, unless private URLs are allowed
    (development and tests: http:// and any address, no DNS check)."""

    def __init__(
        self, *, allow_private: bool = False, resolver: Resolver = system_resolver
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolver

    async def check(self, url: str) -> None:
        await self.target(url)

    async def target(self, url: str) -> Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise UnsafeUrlError(f"the URL is not valid ({error})") from None
        schemes = ("https", "http") if self.allow_private else ("https",)
        if parts.scheme not in schemes:
            raise UnsafeUrlError("the URL must start with https://")
        host = parts.hostname
        if not host:
            raise UnsafeUrlError("the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise UnsafeUrlError("the URL may not carry credentials")
        port = port or (443 if parts.scheme == "https" else 80)
        if self.allow_private:
            return Target(parts, host, port, [])
        try:
            literal: IpAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self._resolve(host, port)
            except (OSError, UnicodeError):
                raise UnsafeUrlError(f"the host {host} does not resolve") from None
        if not addresses:
            raise UnsafeUrlError(f"the host {host} does not resolve")
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise UnsafeUrlError(f"the host {host} resolves to a non-public address")
        return Target(parts, host, port, addresses)
