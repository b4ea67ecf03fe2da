"""Redis clients that fail fast, for one Redis or a Redis Cluster, built in one place.

redis-py's defaults take seconds (refused) to a minute (frozen server) to fail one call,
retrying ten times; the breaker and the invalidation channel, not the client, decide when to
try again. So every client here has short connect/read timeouts, no retries and no health-check
round trips, whatever it talks to.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
"""`REDIS_URL=redis+cluster://host:port` names a Redis Cluster by one of its nodes."""

Client = Redis | RedisCluster

FAILURES: tuple[type[BaseException], ...] = (
    RedisError,
    RedisClusterException,  # no node of a cluster reachable, or a slot no node serves
    OSError,
    asyncio.TimeoutError,
)
"""What a call to Redis can fail with: each is an outage to its caller, never a 500."""


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def _fail_fast(timeout_seconds: float) -> dict[str, Any]:
    return {
        "socket_connect_timeout": timeout_seconds,
        "socket_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
        # With maintenance notifications on (redis-py 8's "auto"), a pool skips its check for
        # connections the server closed; after a Redis restart, requests would meet dead ones.
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    }


def _plain(cluster_url: str) -> str:
    """`redis+cluster://…` as the `redis://…` URL redis-py reads."""
    scheme, _, rest = cluster_url.partition("://")
    return f"{scheme.lower().removesuffix('+cluster')}://{rest}"


def node_url(cluster_url: str, address: str) -> str:
    """The URL of one node (`host:port`) of the cluster, with the cluster URL's scheme (TLS or
    not) and credentials."""
    parts = urlsplit(_plain(cluster_url))
    credentials = parts.netloc.rpartition("@")[0]
    return f"{parts.scheme}://{credentials + '@' if credentials else ''}{address}"


def cluster_client(url: str, *, timeout_seconds: float, max_connections: int = 32) -> RedisCluster:
    """A cluster client: a shard that is down or failing over fails its calls at once, as a
    Redis outage does."""
    return RedisCluster.from_url(
        _plain(url),
        max_connections=max_connections,
        **_fail_fast(timeout_seconds),
    )


def redis_client(url: str, *, timeout_seconds: float = 0.25, max_connections: int = 32) -> Client:
    """The cache's client: a bounded pool to one Redis, or a cluster client for a cluster URL."""
    if is_cluster_url(url):
        return cluster_client(url, timeout_seconds=timeout_seconds, max_connections=max_connections)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,  # wait for a free connection no longer than for an answer
        **_fail_fast(timeout_seconds),
    )
    return Redis(connection_pool=pool)


def node_client(url: str, *, timeout_seconds: float) -> Redis:
    """One Redis (a cluster's single node, by its host and port), for pub/sub."""
    return Redis.from_url(url, **_fail_fast(timeout_seconds))
