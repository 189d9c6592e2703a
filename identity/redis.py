"""The one Redis connection pool for code that needs Redis beyond Django's cache (sessions, counters)."""

from functools import cache

import redis
from django.conf import settings


@cache
def connection() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        health_check_interval=30,
    )
