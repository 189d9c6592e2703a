"""Prometheus metrics. With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (scripts/run does):
prometheus-client then aggregates every process's samples at scrape time."""

from __future__ import annotations

import ipaddress
import os
import time

from celery.signals import task_failure, task_retry, task_success
from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from identity.net import from_trusted_proxy

REQUESTS = Counter("identity_http_requests_total", "HTTP requests by view and status", ["view", "method", "status"])
LATENCY = Histogram("identity_http_request_duration_seconds", "Request latency by view", ["view"])
SIGNINS = Counter("identity_signins_total", "Sign-in attempts by method and outcome", ["method", "outcome"])
FEDERATION_REFUSALS = Counter(
    "identity_federation_refusals_total", "Sign-ins through identity providers refused", ["provider", "reason"]
)
AUTHORIZATION_REFUSALS = Counter(
    "identity_oidc_authorization_refusals_total",
    "Sign-ins (authorize) and token requests (token) refused by an app's policy",
    ["reason", "endpoint"],
)
SAML_RESPONSES = Counter(
    "identity_saml_responses_total", "SAML responses sent to service providers, by outcome", ["outcome"]
)
SAML_REFUSALS = Counter(
    "identity_saml_refusals_total", "SAML requests refused with no answer to the SP, by reason", ["reason"]
)
MFA_CHECKS = Counter("identity_mfa_checks_total", "Second-factor checks by method and outcome", ["method", "outcome"])
RATE_LIMITED = Counter("identity_rate_limited_total", "Requests refused by a rate limit", ["limit"])
TOKENS_ISSUED = Counter("identity_oidc_tokens_issued_total", "Tokens issued by grant type", ["grant_type"])
TASKS = Counter("identity_celery_tasks_total", "Celery task outcomes", ["task", "outcome"])


# Collectors read at scrape time (not per process: a database count is the same in every worker);
# feature apps add theirs in their AppConfig.ready(), e.g. accounts' mail outbox.
_scrape_time_collectors: list = []


def add_scrape_time_collector(collector) -> None:
    if collector not in _scrape_time_collectors:
        _scrape_time_collectors.append(collector)


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
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry)
    scrape_time = CollectorRegistry()
    for collector in _scrape_time_collectors:
        scrape_time.register(collector)
    output += generate_latest(scrape_time)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


def connect_celery_signals() -> None:
    def outcome(name):
        def record(sender=None, request=None, **kwargs):
            task = getattr(sender, "name", None) or getattr(request, "task", None) or "unknown"
            TASKS.labels(str(task), name).inc()

        return record

    task_success.connect(outcome("success"), weak=False)
    task_retry.connect(outcome("retry"), weak=False)
    task_failure.connect(outcome("failure"), weak=False)
