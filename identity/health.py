"""Liveness and readiness probes, answered before any other middleware: no host check, no session,
no redirect to https, no rate limit, and no access-log line per healthy probe (see identity/gunicorn_logging.py)."""

from __future__ import annotations

import json

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection as db_connection
from django.http import HttpResponse
from kombu import Connection

from identity.celery import app
from identity.redis import new_client

PROBE_PATHS = ("/healthz", "/readyz")

# The tag of the system checks a web process must pass before it serves: identity/wsgi.py runs them
# at start (feature apps register them, like the OpenID Connect provider's signing keys).
STARTUP = "startup"


class NotReady(Exception):
    """A readiness failure whose message is fit for the probe's public answer (no secret, no path)."""


def _check_postgres() -> None:
    with db_connection.cursor() as cursor:  # bounded by DATABASE_CONNECT_TIMEOUT
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    # A client of its own (through the sentinels, if any): the probe never waits behind a request's pool.
    with new_client(timeout=1) as client:
        client.ping()


def _check_broker() -> None:
    url = app.conf.broker_write_url or app.conf.broker_url
    options = {**app.conf.broker_transport_options, "socket_timeout": 1, "socket_connect_timeout": 1}  # master_name
    with Connection(url, connect_timeout=1, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, timeout=1)


CHECKS = {"database": _check_postgres, "redis": _check_redis, "broker": _check_broker}


def add_check(name: str, check) -> None:
    """A feature app adds what it cannot serve without (a callable that raises when not ready)."""
    CHECKS[name] = check


def readiness() -> tuple[bool, dict[str, str]]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except NotReady as problem:
            results[name] = f"error: {problem}"
        except Exception as error:  # any failure means "not ready"; the name says what failed
            results[name] = f"error: {type(error).__name__}"
    return all(value == "ok" for value in results.values()), results


def refuse_to_start_misconfigured(*, deployment: bool = True) -> None:
    """Stop a web process at its start, not at its first request, when a startup check fails (a
    gunicorn worker that cannot load the application stops the whole server, with this message).
    `deployment`: the deploy-only ones too (the signing keyset, which a Celery worker starts without)."""
    found = checks.run_checks(tags=[STARTUP], include_deployment_checks=deployment)
    serious = [message for message in found if message.is_serious()]
    if serious:
        lines = [f"{message.id}: {message.msg} {message.hint or ''}".strip() for message in serious]
        raise ImproperlyConfigured("\n".join(lines))


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return HttpResponse("ok\n", content_type="text/plain")
        if request.path == "/readyz":
            ready, results = readiness()
            body = json.dumps({"ready": ready, "checks": results}) + "\n"
            return HttpResponse(body, status=200 if ready else 503, content_type="application/json")
        return self.get_response(request)
