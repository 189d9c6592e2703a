"""accounts' metrics read at scrape time (identity.metrics serves them with the rest)."""

from __future__ import annotations

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .app_settings import app_settings
from .models import OutboxMail


class OutboxCollector:
    """Mail outbox depth and the age of the oldest unsent row, read from the database at scrape time."""

    def collect(self):
        unsent = OutboxMail.objects.filter(sent_at__isnull=True).aggregate(
            n=Count("pk"),
            oldest=Min("created_at"),
            failed=Count("pk", filter=Q(attempts__gte=app_settings.MAIL_MAX_ATTEMPTS)),
        )
        depth = GaugeMetricFamily("identity_mail_outbox_unsent", "Mail rows not sent yet")
        depth.add_metric([], unsent["n"])
        age = GaugeMetricFamily("identity_mail_outbox_oldest_unsent_seconds", "Age of the oldest unsent mail row")
        age.add_metric([], (timezone.now() - unsent["oldest"]).total_seconds() if unsent["oldest"] else 0)
        failed = GaugeMetricFamily("identity_mail_outbox_failed", "Mail rows that gave up after MAIL_MAX_ATTEMPTS")
        failed.add_metric([], unsent["failed"])
        yield depth
        yield age
        yield failed


OUTBOX = OutboxCollector()
