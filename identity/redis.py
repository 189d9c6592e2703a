"""The one Redis connection pool of each process: sessions, rate-limit counters and Django's cache share it.

With REDIS_SENTINELS set, the pool asks the sentinels for the current master whenever it opens a
connection, so a failover needs no restart: connections to the old master break and are replaced by ones
to whichever master the sentinels name now.

With REDIS_CLUSTER_NODES set, the client is a RedisCluster: it learns which master serves which hash slot
from any node it reaches, and after a connection error or a MOVED answer it asks again, so a replica that
took over a dead master's slots is found without a restart. A command or script may then only touch keys
of one slot: the stores keep what must change together under one hash tag (accounts.sessions: a person's
sessions and their index; identity.ratelimit: the counters of one subject). Celery's broker never runs on
the cluster (kombu does not support it): it keeps CELERY_BROKER_URL.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis._parsers.commands import CommandPolicies, RequestPolicy, ResponsePolicy
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.policies import StaticPolicyResolver
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

# The pool already replaces a connection the server closed before handing it out (a dead master; the
# clients a demoted master's sentinels disconnect). One immediate retry on a new connection covers one that
# breaks after that, or answers READONLY (a master demoted behind Sentinel's back). An outage still answers
# 503 at once: a refused connection fails fast twice. Timeouts are not retried: a hung Redis would double
# the wait, and a write that timed out may have happened.
RETRY = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))

_ADDRESS = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+))(?::(?P<port>\d{1,5}))?")

Client = redis.Redis | RedisCluster


def parse_addresses(value: str, default_port: int) -> list[tuple[str, int]]:
    """'host:port,[::1]:6380' as (host, port) pairs."""
    addresses = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = _ADDRESS.fullmatch(item)
        port = int(match["port"] or default_port) if match else 0
        if not match or not 0 < port < 65536:
            raise ValueError(f"not a host:port address: {item!r}")
        addresses.append((match["ipv6"] or match["host"], port))
    return addresses


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """A missing port is Sentinel's own 26379."""
    return parse_addresses(value, 26379)


def parse_cluster_nodes(value: str) -> list[tuple[str, int]]:
    """Some nodes of the cluster (any will do to find the others); a missing port is Redis' 6379."""
    return parse_addresses(value, 6379)


def kombu_sentinel_url(redis_url: str, sentinels: list[tuple[str, int]]) -> str:
    """Celery's broker through the same sentinels, with REDIS_URL's credentials and database number."""
    auth = urlsplit(redis_url).netloc.rpartition("@")[0]
    db = parse_url(redis_url).get("db", 0)
    return ";".join(
        f"sentinel://{auth + '@' if auth else ''}{f'[{host}]' if ':' in host else host}:{port}/{db}"
        for host, port in sentinels
    )


class _MasterConnection(SentinelManagedConnection):
    """Drops a connection whose reply was not read (a timeout). redis-py's sentinel connection keeps it, and
    the next command on it would read the previous command's reply (redis/redis-py#4292)."""

    def read_response(self, *args, disconnect_on_error=True, **kwargs):
        return super().read_response(*args, disconnect_on_error=disconnect_on_error, **kwargs)


def new_client(timeout: float) -> Client:
    """A client with its own pool: to the master the sentinels name if REDIS_SENTINELS is set (REDIS_URL then
    gives only the credentials and database number), to the cluster if REDIS_CLUSTER_NODES is set (REDIS_URL
    gives only the credentials and, as rediss://, TLS), else to REDIS_URL."""
    options = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "health_check_interval": 30,
        "retry": RETRY,
    }
    if settings.REDIS_CLUSTER_NODES:
        return _cluster_client(timeout)
    if not settings.REDIS_SENTINELS:
        return redis.Redis.from_url(settings.REDIS_URL, **options)
    url = parse_url(settings.REDIS_URL)
    sentinels = Sentinel(
        settings.REDIS_SENTINELS,
        sentinel_kwargs={
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "retry": RETRY,
            "password": settings.REDIS_SENTINEL_PASSWORD or None,
        },
    )
    return sentinels.master_for(
        settings.REDIS_SENTINEL_MASTER,
        connection_class=_MasterConnection,
        db=url.get("db", 0),
        username=url.get("username"),
        password=url.get("password"),
        **options,
    )


class _Policies(StaticPolicyResolver):
    """EVALSHA goes to its keys' slot. redis-py knows that for a command, but its cluster pipeline first asks
    a node which arguments are keys (COMMAND GETKEYS), one more round trip for every script in it."""

    _KEYED = CommandPolicies(RequestPolicy.DEFAULT_KEYED, ResponsePolicy.DEFAULT_KEYED)

    def resolve(self, command_name: str) -> CommandPolicies | None:
        return self._KEYED if command_name == "evalsha" else super().resolve(command_name)


class _Cluster(RedisCluster):
    def pipeline(self, transaction=None, shard_hint=None):
        """With the client's policies: redis-py gives a cluster pipeline its default ones (redis-py 8.1)."""
        pipe = super().pipeline(transaction, shard_hint)
        pipe._policy_resolver = self._policy_resolver
        return pipe


def _cluster_client(timeout: float) -> RedisCluster:
    """The cluster through any of REDIS_CLUSTER_NODES. One retry, without waiting, as RETRY does for one
    server: the client re-reads the slot map after a connection error, so the retry reaches a replica that
    has taken over, and while none has the page answers 503 at once. (redis-py's cluster client retries a
    timed-out command too; for the rate limiter that can only count an attempt twice, never let one
    through uncounted.)"""
    credentials = {
        name: value
        for name, value in parse_url(settings.REDIS_URL).items()
        if name not in ("host", "port", "db", "path")
    }
    return _Cluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.REDIS_CLUSTER_NODES],
        retry=Retry(NoBackoff(), 1),
        policy_resolver=_Policies(),
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        **credentials,
    )


def is_cluster(client: Client) -> bool:
    return isinstance(client, RedisCluster)


@cache
def connection() -> Client:
    return new_client(settings.REDIS_SOCKET_TIMEOUT)


class _CacheClient(RedisCacheClient):
    """On a cluster, the calls about several keys go to each key's own slot (Django's client would send one
    MGET, or an MSET in a transaction, which a cluster refuses for keys of different slots)."""

    def get_client(self, key=None, *, write=False):
        return connection()

    def get_many(self, keys):
        client = connection()
        if not isinstance(client, RedisCluster):
            return super().get_many(keys)
        values = client.mget_nonatomic(keys)
        return {
            key: self._serializer.loads(value) for key, value in zip(keys, values, strict=True) if value is not None
        }

    def set_many(self, data, timeout):
        client = connection()
        if not isinstance(client, RedisCluster):
            return super().set_many(data, timeout)
        if timeout == 0:
            client.delete(*data)
            return
        pipe = client.pipeline(transaction=False)
        for key, value in data.items():
            pipe.set(key, self._serializer.dumps(value), ex=timeout)
        pipe.execute()


class Cache(RedisCache):
    """Django's Redis cache (same serializer) on connection(): it follows a failover, and opens no pool of its
    own. LOCATION is not used."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _CacheClient
