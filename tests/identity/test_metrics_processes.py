"""Metrics from several real processes (two gunicorn workers and a Celery worker) add up in /metrics."""

import re
import time

import pytest
from django.db import transaction

from accounts.models import OutboxMail, User
from accounts.outbox import queue_mail
from tests.stack import stack, wait_for
from tests.users import PASSWORD

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def value(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{key}="{val}"' for key, val in sorted(labels.items()))
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_counts_from_every_worker_and_the_celery_worker_add_up(redis_server_binary, tmp_path, settings, celery_on):
    user = User.objects.create_user("ada@example.com", PASSWORD, email_verified=True)
    with stack(tmp_path) as web:
        metrics_dir = tmp_path / "prometheus"
        metrics_dir.mkdir()
        web.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        web.env["WEB_CONCURRENCY"] = "2"
        web.start_gunicorn()
        web.start_worker()
        requests = 40
        for _ in range(requests):
            assert web.request("GET", "/accounts/login/")[0] == 200
        text = web.request("GET", "/metrics")[1]
        assert (
            value(text, "identity_http_requests_total", view="accounts:signin", method="GET", status="200") == requests
        )

        celery_on(web.broker_url)
        with transaction.atomic():
            queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        wait_for(lambda: web.sink.messages, 20, "the mail")

        def counted():
            text = web.request("GET", "/metrics")[1]
            return value(text, "identity_celery_tasks_total", task="accounts.tasks.send_outbox_mail", outcome="success")

        wait_for(lambda: counted() >= 1, 10, "the task's success in /metrics")
        time.sleep(0.2)
