"""The one Redis connection pool of each process: sessions, rate-limit counters and Django's cache share it.

With REDIS_SENTINELS set, the pool asks the sentinels for the current master whenever it opens a
connection, so a failover needs no restart: connections to the old master break and are replaced by ones
to whichever master the sentinels name now.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

# The pool already replaces a connection the server closed before handing it out (a dead master; the
# clients a demoted master's sentinels disconnect). One immediate retry on a new connection covers one that
# breaks after that, or answers READONLY (a master demoted behind Sentinel's back). An outage still answers
# 503 at once: a refused connection fails fast twice. Timeouts are not retried: a hung Redis would double
# the wait, and a write that timed out may have happened.
RETRY = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))

_SENTINEL = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+))(?::(?P<port>\d{1,5}))?")


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """'host:port,[::1]:26380' as (host, port) pairs; a missing port is Sentinel's own 26379."""
    sentinels = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = _SENTINEL.fullmatch(item)
        port = int(match["port"] or 26379) if match else 0
        if not match or not 0 < port < 65536:
            raise ValueError(f"not a host:port address: {item!r}")
        sentinels.append((match["ipv6"] or match["host"], port))
    return sentinels


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


def new_client(timeout: float) -> redis.Redis:
    """A client with its own pool: to the master the sentinels name if REDIS_SENTINELS is set (REDIS_URL then
    gives only the credentials and database number), else to REDIS_URL."""
    options = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "health_check_interval": 30,
        "retry": RETRY,
    }
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


@cache
def connection() -> redis.Redis:
    return new_client(settings.REDIS_SOCKET_TIMEOUT)


class _CacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        return connection()


class Cache(RedisCache):
    """Django's Redis cache (same serializer) on connection(): it follows a failover, and opens no pool of its
    own. LOCATION is not used."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _CacheClient
