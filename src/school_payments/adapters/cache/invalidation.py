"""The invalidation channel: Redis pub/sub that tells this process when a statement version
moved or an API key was revoked on another instance, and whether it can be trusted right now.

Trust is a lease. The listener pings on its own subscribed connection every quarter lease with
its send time as the message; Redis answers in order, after every message published before the
ping. So when the pong for a ping sent at `t` has been handled, every invalidation published
before `t` has been handled too. The channel is *live* while the last answered ping was sent
less than one lease ago.

- A lapse on a connection that stays open (a frozen Redis, a stalled event loop) only suspends
  trust: nothing was lost, since what was published meanwhile comes before the next pong.
- A lost connection (Redis restarted or killed, `CLIENT KILL`, no pong for 2 s) may have lost
  messages: listeners are told to flush, the session changes, and trust returns only with a pong
  on a new connection. A subscription never silently resumes (redis-py would re-subscribe
  behind our back and hide what was missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

log = logging.getLogger(__name__)

CHANNEL = "school-payments:invalidations"
"""Version keys (`student:{id}:statement:version`) and `revoked:<key id>` are published here."""
REVOKED = "revoked:"
SILENCE_BEFORE_RECONNECT_SECONDS = 2.0
"""A connection that has answered no ping for this long is dropped and made anew."""


class _SilentError(Exception):
    """No pong for too long on a connection that still looks open (a half-open socket)."""


_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)
_LOST: tuple[type[BaseException], ...] = (*_FAILURES, _SilentError)


class InvalidationChannel:
    """One subscribed connection per process, started by the first question asked of it."""

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float = 0.1,
        timeout_seconds: float = 0.25,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._lease = lease_seconds
        self._ping_every = lease_seconds / 4
        self._timeout = timeout_seconds
        self._monotonic = monotonic
        self._confirmed = -math.inf
        """Send time of the last answered ping on the current connection."""
        self._up = False
        self._session = 0
        self._version_listeners: list[Callable[[str], None]] = []
        self._revocation_listeners: list[Callable[[str], None]] = []
        self._lapse_listeners: list[Callable[[], None]] = []
        self._recovery_listeners: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._publisher: Redis | None = None

    # -- what the caches ask ----------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Every invalidation published more than one lease ago has been applied."""
        if self._task is None:
            self.start()
        if not self._up:
            return False
        if self._monotonic() - self._confirmed > self._lease:
            self._lapse()
            return False
        return True

    def session(self) -> int | None:
        """The current unbroken stretch of liveness, or None while not live."""
        return self._session if self.live else None

    def on_version(self, listener: Callable[[str], None]) -> None:
        self._version_listeners.append(listener)

    def on_revocation(self, listener: Callable[[str], None]) -> None:
        self._revocation_listeners.append(listener)

    def on_loss(self, listener: Callable[[], None]) -> None:
        """`listener` runs whenever messages may have been missed (flush what they protect)."""
        self._lapse_listeners.append(listener)

    def on_recovery(self, listener: Callable[[], Awaitable[None]]) -> None:
        """`listener` runs (and is awaited) before the channel is live again after a lapse or
        a loss: Redis answers again."""
        self._recovery_listeners.append(listener)

    async def announce(self, key_id: UUID) -> None:
        """Publishes a revocation; best effort (the others fall back to their short TTL)."""
        if self._publisher is None:
            self._publisher = _client(self._url, self._timeout)
        try:
            await self._publisher.publish(CHANNEL, f"{REVOKED}{key_id}")
        except _FAILURES as error:
            log.warning(
                "a key revocation could not be announced",
                extra={"key_id": str(key_id), "error": type(error).__name__},
            )

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # asked outside the event loop (a test's setup): start on the next question
        self._task = loop.create_task(self._run(), name="invalidation-channel")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            # Bounded: a cancellation swallowed inside redis-py must not hang the shutdown.
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=1.0)
        if self._publisher is not None:
            await self._publisher.aclose()
            self._publisher = None
        self._down()

    # -- the listener ---------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.05
        while not self._closed:
            client = _client(self._url, self._timeout)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                delay = 0.05
                await self._listen(pubsub)
            except _LOST as error:
                log.info(
                    "invalidation channel lost; near caches bypassed until it is back",
                    extra={"error": type(error).__name__},
                )
            finally:
                self._down()
                with contextlib.suppress(*_FAILURES):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py is untyped here
                with contextlib.suppress(*_FAILURES):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _listen(self, pubsub: Any) -> None:
        connected_at = self._monotonic()
        next_ping = 0.0
        while not self._closed:  # redis-py can swallow a cancellation in a read: check too
            now = self._monotonic()
            if now - max(self._confirmed, connected_at) > SILENCE_BEFORE_RECONNECT_SECONDS:
                raise _SilentError()
            if now >= next_ping:
                await pubsub.ping(repr(now))
                next_ping = now + self._ping_every
            message = await pubsub.get_message(timeout=max(0.0, next_ping - self._monotonic()))
            if message is not None:
                await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        data = message["data"]
        text = data.decode() if isinstance(data, bytes) else str(data)
        if kind == "message":
            if text.startswith(REVOKED):
                for revoked in self._revocation_listeners:
                    revoked(text.removeprefix(REVOKED))
            else:
                for moved in self._version_listeners:
                    moved(text)
        elif kind == "pong":
            with contextlib.suppress(ValueError):
                await self._confirm(float(text))

    async def _confirm(self, sent_at: float) -> None:
        if not self._up or sent_at - self._confirmed > self._lease:
            for recover in self._recovery_listeners:
                await recover()
            self._up = True
        self._confirmed = max(self._confirmed, sent_at)

    def _lapse(self) -> None:
        """Trust suspended until the next pong; nothing lost on this connection."""
        self._up = False

    def _down(self) -> None:
        """The connection is gone: whatever it would have carried meanwhile is lost."""
        self._up = False
        self._confirmed = -math.inf
        self._session += 1
        for lost in self._lapse_listeners:
            lost()


def _client(url: str, timeout_seconds: float) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
