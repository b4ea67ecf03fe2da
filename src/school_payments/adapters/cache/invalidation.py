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

On a Redis Cluster (ADR 0021) the order that makes the lease hold exists within one shard only:
a message published on one shard reaches a subscriber on another with no order against that
subscriber's pongs. So invalidations use sharded pub/sub: a version's invalidation is
SPUBLISHed, by the script that moves it, on the channel of its own slot (one channel per slot),
and the listener holds one connection per master, subscribed to the channels of that master's
slots and pinged like the single connection above. The channel is live while every master's
last answered ping is recent; losing any of them, or a slot moving (the server unsubscribes its
channel), is a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from school_payments.adapters.cache.redis_clients import (
    FAILURES,
    Client,
    cluster_client,
    is_cluster_url,
    node_client,
    node_url,
)

log = logging.getLogger(__name__)

CHANNEL = "school-payments:invalidations"
"""Version keys (`student:{id}:statement:version`) and `revoked:<key id>` are published here."""
REVOKED = "revoked:"
SILENCE_BEFORE_RECONNECT_SECONDS = 2.0
"""A connection that has answered no ping for this long is dropped and made anew."""


class _SilentError(Exception):
    """No pong for too long on a connection that still looks open (a half-open socket)."""


class _SlotsMovedError(Exception):
    """The cluster unsubscribed one of our channels: its slot has moved to another master."""


_LOST: tuple[type[BaseException], ...] = (*FAILURES, _SilentError, _SlotsMovedError)
Subscribe = Callable[[Any], Awaitable[None]]
"""Subscribes one pub/sub connection to what it must hear."""


@functools.cache
def _slot_tags() -> tuple[str, ...]:
    """For each of the cluster's 16,384 slots, a short hash tag that falls in it (~0.3 s once)."""
    tags: list[str] = [""] * REDIS_CLUSTER_HASH_SLOTS
    missing, candidate = REDIS_CLUSTER_HASH_SLOTS, 0
    while missing:
        tag = format(candidate, "x")
        slot = key_slot(tag.encode())
        if not tags[slot]:
            tags[slot] = tag
            missing -= 1
        candidate += 1
    return tuple(tags)


def slot_channel(slot: int) -> str:
    """The sharded channel that lives in `slot`."""
    return f"{CHANNEL}:{{{_slot_tags()[slot]}}}"


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
        self._cluster = is_cluster_url(url)
        if self._cluster:
            _slot_tags()  # at start (~0.3 s), not on the first write's path
        self._lease = lease_seconds
        self._ping_every = lease_seconds / 4
        self._timeout = timeout_seconds
        self._monotonic = monotonic
        self._confirmed = -math.inf
        """Send time of the last ping answered on every current connection."""
        self._confirmed_by: list[float] = []
        """The same, per connection (one per master on a cluster)."""
        self._up = False
        self._session = 0
        self._version_listeners: list[Callable[[str], None]] = []
        self._revocation_listeners: list[Callable[[str], None]] = []
        self._lapse_listeners: list[Callable[[], None]] = []
        self._recovery_listeners: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._publisher: Client | None = None

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

    def publication(self, key: str) -> tuple[str, str]:
        """How the invalidation of version `key` is published: the command and the channel."""
        if self._cluster:
            return "SPUBLISH", slot_channel(key_slot(key.encode()))
        return "PUBLISH", CHANNEL

    async def announce(self, key_id: UUID) -> None:
        """Publishes a revocation; best effort (the others fall back to their short TTL)."""
        command, channel = self.publication(str(key_id))
        try:
            if self._publisher is None:
                self._publisher = (
                    cluster_client(self._url, timeout_seconds=self._timeout)
                    if self._cluster
                    else node_client(self._url, timeout_seconds=self._timeout)
                )
            if command == "SPUBLISH":
                await self._publisher.spublish(channel, f"{REVOKED}{key_id}")
            else:
                await self._publisher.publish(channel, f"{REVOKED}{key_id}")
        except FAILURES as error:
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
            connections: list[tuple[Redis, Any]] = []
            try:
                targets = await self._targets()
                connections = [(client, client.pubsub()) for client, _ in targets]
                subscriptions = zip(targets, connections, strict=True)
                await asyncio.gather(*(subscribe(ps) for (_, subscribe), (_, ps) in subscriptions))
                delay = 0.05
                await self._listen_all([pubsub for _, pubsub in connections])
            except _LOST as error:
                log.info(
                    "invalidation channel lost; near caches bypassed until it is back",
                    extra={"error": type(error).__name__},
                )
            finally:
                self._down()
                for client, pubsub in connections:
                    with contextlib.suppress(*FAILURES):
                        await pubsub.aclose()
                    with contextlib.suppress(*FAILURES):
                        await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _targets(self) -> list[tuple[Redis, Subscribe]]:
        """The connections to listen on, each with what it subscribes to."""
        if not self._cluster:

            async def subscribe(pubsub: Any) -> None:
                await pubsub.subscribe(CHANNEL)

            return [(node_client(self._url, timeout_seconds=self._timeout), subscribe)]
        return await self._masters()

    async def _masters(self) -> list[tuple[Redis, Subscribe]]:
        """One connection per master, subscribed to the channels of the slots it serves."""
        topology: RedisCluster = cluster_client(self._url, timeout_seconds=self._timeout)
        try:
            await topology.initialize()
            slots_by_master: dict[str, list[int]] = {}
            for slot, nodes in topology.nodes_manager.slots_cache.items():
                slots_by_master.setdefault(nodes[0].name, []).append(slot)
        finally:
            await topology.aclose()

        def subscriber(slots: list[int]) -> Subscribe:
            async def subscribe(pubsub: Any) -> None:
                for slot in slots:  # one command per channel: SSUBSCRIBE refuses CROSSSLOT
                    await pubsub.ssubscribe(slot_channel(slot))

            return subscribe

        return [
            (
                node_client(node_url(self._url, name), timeout_seconds=self._timeout),
                subscriber(slots),
            )
            for name, slots in slots_by_master.items()
        ]

    async def _listen_all(self, pubsubs: list[Any]) -> None:
        """Listens on every connection at once; the first to fail ends them all."""
        self._confirmed_by = [-math.inf] * len(pubsubs)
        if len(pubsubs) == 1:
            await self._listen(pubsubs[0], 0)
            return
        try:
            async with asyncio.TaskGroup() as group:
                for index, pubsub in enumerate(pubsubs):
                    group.create_task(self._listen(pubsub, index))
        except BaseExceptionGroup as errors:
            lost = errors.subgroup(lambda error: isinstance(error, _LOST))
            if lost is None:
                raise
            first = lost.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from errors

    async def _listen(self, pubsub: Any, index: int) -> None:
        connected_at = self._monotonic()
        next_ping = 0.0
        while not self._closed:  # redis-py can swallow a cancellation in a read: check too
            now = self._monotonic()
            heard = max(self._confirmed_by[index], connected_at)
            if now - heard > SILENCE_BEFORE_RECONNECT_SECONDS:
                raise _SilentError()
            if now >= next_ping:
                await pubsub.ping(repr(now))
                next_ping = now + self._ping_every
            message = await pubsub.get_message(timeout=max(0.0, next_ping - self._monotonic()))
            if message is not None:
                await self._handle(message, index)

    async def _handle(self, message: dict[str, Any], index: int) -> None:
        kind = message["type"]
        data = message["data"]
        text = data.decode() if isinstance(data, bytes) else str(data)
        if kind in ("message", "smessage"):
            if text.startswith(REVOKED):
                for revoked in self._revocation_listeners:
                    revoked(text.removeprefix(REVOKED))
            else:
                for moved in self._version_listeners:
                    moved(text)
        elif kind == "pong":
            with contextlib.suppress(ValueError):
                await self._confirm(index, float(text))
        elif kind == "sunsubscribe":  # we never unsubscribe: the cluster moved a slot away
            raise _SlotsMovedError()

    async def _confirm(self, index: int, sent_at: float) -> None:
        self._confirmed_by[index] = max(self._confirmed_by[index], sent_at)
        confirmed = min(self._confirmed_by)
        if confirmed == -math.inf:
            return  # another connection has not answered yet
        if not self._up or confirmed - self._confirmed > self._lease:
            for recover in self._recovery_listeners:
                await recover()
            self._up = True
        self._confirmed = max(self._confirmed, confirmed)

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
