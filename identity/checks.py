"""System checks for settings that are each valid alone but unsafe together."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


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
