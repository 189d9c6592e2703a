"""System checks for identity's settings: each message names its setting.

Settings that are well formed but wrong (an unknown or malformed rate limit, a proxy that is no
address) are judged here rather than when the settings load, so `manage.py check` reports them all
at once. They carry the STARTUP tag as well: runserver, migrate and check run them like every check,
and every web process runs the STARTUP ones before it serves (identity/wsgi.py), so a bad value
still stops the start instead of failing every request that needs it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
from redis.connection import parse_url

from identity.health import STARTUP
from identity.net import parse_networks
from identity.ratelimit import Limit


@register(Tags.security, deploy=True)
def check_metrics_behind_proxy(app_configs=None, **kwargs) -> list[Error]:
    """Behind a reverse proxy the connecting address is the proxy's, so METRICS_ALLOWED_IPS cannot
    tell a local scraper from anyone on the internet: /metrics then needs METRICS_TOKEN."""
    if settings.TRUSTED_PROXIES and not settings.METRICS_TOKEN:
        return [
            Error(
                "TRUSTED_PROXIES is set but METRICS_TOKEN is not.",
                hint="Requests through a proxy never count as local for /metrics; set METRICS_TOKEN and "
                "scrape with 'Authorization: Bearer <token>'.",
                id="identity.E001",
            )
        ]
    return []


@register(STARTUP)
def check_networks(app_configs=None, **kwargs) -> list[Error]:
    """A host name or a typo must not start fine and then fail every request that needs the client's
    address (TRUSTED_PROXIES) or a scrape of /metrics (METRICS_ALLOWED_IPS)."""
    errors = []
    for name, error_id in (("TRUSTED_PROXIES", "identity.E002"), ("METRICS_ALLOWED_IPS", "identity.E003")):
        try:
            parse_networks(getattr(settings, name))
        except ValueError as error:
            errors.append(
                Error(f"{name}: {error}.", hint="Give IP addresses or CIDR networks, comma-separated.", id=error_id)
            )
    return errors


@register(STARTUP)
def check_rate_limits(app_configs=None, **kwargs) -> list[Error]:
    """Every limit in RATE_LIMITS is one the code uses (a name of RATE_LIMIT_DEFAULTS) and parses, so
    a typo in an override stops the start rather than being ignored, or failing each request that
    uses the limit."""
    errors = []
    known = settings.RATE_LIMIT_DEFAULTS
    for name, spec in settings.RATE_LIMITS.items():
        if name not in known:
            errors.append(
                Error(
                    f"RATE_LIMITS names an unknown limit: {name!r}.",
                    hint="The limits are those listed in README.md (Rate limits), e.g. signin-account=5/15m.",
                    id="identity.E004",
                )
            )
            continue
        try:
            Limit.parse(spec)
        except ValueError as error:
            errors.append(
                Error(
                    f"RATE_LIMITS {name}: {error}.",
                    hint='A limit is "N/period": N attempts, a period in s, m, h, d or y (e.g. 10/15m).',
                    id="identity.E005",
                )
            )
    return errors


@register(STARTUP)
def check_sentinels(app_configs=None, **kwargs) -> list[Error]:
    """Through Sentinel, REDIS_URL gives only the password and the database number, over plain
    redis://: a rediss:// URL would look like TLS and not be."""
    if settings.REDIS_SENTINELS and not settings.REDIS_URL.startswith("redis://"):
        return [
            Error(
                "REDIS_SENTINELS needs a redis:// REDIS_URL (TLS through Sentinel is not supported).",
                hint="With REDIS_SENTINELS, REDIS_URL gives only the password and the database number.",
                id="identity.E006",
            )
        ]
    return []


@register(STARTUP)
def check_cluster(app_configs=None, **kwargs) -> list[Error]:
    """Redis Cluster is one topology and Sentinel another: with both set, one would be ignored without a
    word. A cluster has only database 0, so another number in REDIS_URL would promise a separation that is
    not there; and Celery cannot use a cluster, so its broker must be named."""
    if not settings.REDIS_CLUSTER_NODES:
        return []
    errors = []
    if settings.REDIS_SENTINELS:
        errors.append(
            Error(
                "REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set.",
                hint="Choose one: a Redis Cluster fails over by itself and needs no sentinels.",
                id="identity.E007",
            )
        )
    if (parse_url(settings.REDIS_URL).get("db") or 0) != 0:
        errors.append(
            Error(
                "REDIS_CLUSTER_NODES needs database 0 in REDIS_URL (a Redis Cluster has no other).",
                hint="With REDIS_CLUSTER_NODES, REDIS_URL gives only the credentials and TLS (rediss://).",
                id="identity.E008",
            )
        )
    if not settings.CELERY_BROKER_URL:
        errors.append(
            Error(
                "REDIS_CLUSTER_NODES needs a CELERY_BROKER_URL of its own (Celery cannot use a Redis Cluster).",
                hint="Point CELERY_BROKER_URL at a plain Redis (or Sentinel) outside the cluster.",
                id="identity.E009",
            )
        )
    return errors
