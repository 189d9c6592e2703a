"""Prometheus metrics. With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (scripts/run does):
prometheus-client then aggregates every process's samples at scrape time."""

from __future__ import annotations

import ipaddress
import os
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from identity.net import from_trusted_proxy

REQUESTS = Counter("identity_http_requests_total", "HTTP requests by view and status", ["view", "method", "status"])
LATENCY = Histogram("identity_http_request_duration_seconds", "Request latency by view", ["view"])
SIGNINS = Counter("identity_signins_total", "Sign-in attempts by method and outcome", ["method", "outcome"])
MFA_CHECKS = Counter("identity_mfa_checks_total", "Second-factor checks by method and outcome", ["method", "outcome"])
RATE_LIMITED = Counter("identity_rate_limited_total", "Requests refused by a rate limit", ["limit"])
TOKENS_ISSUED = Counter("identity_oidc_tokens_issued_total", "Tokens issued by grant type", ["grant_type"])
TASKS = Counter("identity_celery_tasks_total", "Celery task outcomes", ["task", "outcome"])


class OutboxCollector:
    """Mail outbox depth and the age of the oldest unsent row, read from the database at scrape time."""

    def collect(self):
        from django.db.models import Count, Min, Q
        from django.utils import timezone

        from accounts.models import OutboxMail

        unsent = OutboxMail.objects.filter(sent_at__isnull=True).aggregate(
            n=Count("pk"),
            oldest=Min("created_at"),
            failed=Count("pk", filter=Q(attempts__gte=settings.MAIL_MAX_ATTEMPTS)),
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


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match else "unmatched"
        REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)
        return response


def _allowed(request) -> bool:
    """The bearer token when one is set; otherwise the connecting address, unless that address is a
    trusted proxy: with nginx on the same host every outside request arrives from 127.0.0.1, so a
    request through a proxy never counts as local (set METRICS_TOKEN for that setup)."""
    token = settings.METRICS_TOKEN
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        return header.startswith("Bearer ") and constant_time_compare(header[7:], token)
    if from_trusted_proxy(request):
        return False
    try:
        remote = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(remote in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_IPS)


def metrics_view(request):
    """Prometheus text format; only for METRICS_ALLOWED_IPS, or with the METRICS_TOKEN bearer token."""
    if not _allowed(request):
        if not settings.METRICS_TOKEN and from_trusted_proxy(request):
            body = "forbidden: this request came through a trusted proxy; scrape with METRICS_TOKEN\n"
            return HttpResponseForbidden(body, content_type="text/plain")
        return HttpResponseForbidden("forbidden\n", content_type="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    output = generate_latest(registry)
    outbox_registry = CollectorRegistry()
    outbox_registry.register(OutboxCollector())
    output += generate_latest(outbox_registry)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


def connect_celery_signals() -> None:
    from celery.signals import task_failure, task_retry, task_success

    def outcome(name):
        def record(sender=None, request=None, **kwargs):
            task = getattr(sender, "name", None) or getattr(request, "task", None) or "unknown"
            TASKS.labels(str(task), name).inc()

        return record

    task_success.connect(outcome("success"), weak=False)
    task_retry.connect(outcome("retry"), weak=False)
    task_failure.connect(outcome("failure"), weak=False)
