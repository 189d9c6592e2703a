"""Federation's metrics: refused upstream sign-ins by provider and reason (identity/metrics.py serves
them with the rest; its sign-in counter labels a completed one `federation`)."""

from __future__ import annotations

from identity.metrics import FEDERATION_REFUSALS

from .models import Provider

UNKNOWN_PROVIDER = "unknown"


def count_refusal(reason: str, slug: str) -> None:
    """`reason` is one of flows.py's fixed words. The slug is the label only when it names a configured
    provider: the callback's path is the browser's to choose, and every made-up slug would otherwise be
    a time series of its own. Refusals are rate limited (federation-ip), so the lookup is bounded too."""
    known = bool(slug) and Provider.objects.filter(slug=slug).exists()
    FEDERATION_REFUSALS.labels(slug if known else UNKNOWN_PROVIDER, reason).inc()
