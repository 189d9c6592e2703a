"""Fault tolerance against real processes: gunicorn, a Celery worker, redis-server and an SMTP server.

Each test starts its own redis-server (sessions and cache in db 0, the broker in db 1), an SMTP sink,
gunicorn and/or a Celery worker as subprocesses that share pytest's test database, then breaks one of
them: Redis stopped under gunicorn, a worker SIGKILLed in the middle of an SMTP conversation, an SMTP
server refusing mail. Everything started is stopped in `finally` blocks.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import OutboxMail, User
from accounts.outbox import queue_mail
from accounts.tasks import sweep_outbox
from tests.stack import sign_in, stack, wait_for
from tests.users import PASSWORD

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


# --- 1. Redis stops under a running gunicorn -----------------------------------------------------


def test_redis_stopped_under_gunicorn_answers_503_then_recovers(redis_server_binary, tmp_path):
    user = User.objects.create_user("ada@example.com", PASSWORD, email_verified=True)
    with stack(tmp_path) as web:
        web.start_gunicorn()
        assert web.request("GET", "/accounts/login/")[0] == 200
        cookies = sign_in(web, user.email)
        assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 200
        assert web.request("GET", "/readyz")[0] == 200

        web.redis.stop()
        # Several rounds, so both gunicorn workers are hit. A reset connection raises here and fails.
        for _ in range(4):
            status, page, response = web.request("GET", "/accounts/", cookies=dict(cookies))
            assert status == 503, (status, page[:500])
            assert "Temporarily unavailable" in page
            assert response.headers["Retry-After"]
            login_page = web.request("GET", "/accounts/login/", cookies=dict(cookies))
            assert login_page[0] == 503, login_page[0]
            status, page, _ = web.request(
                "POST", "/accounts/login/", {"email": user.email, "password": "wrong password here"}, dict(cookies)
            )
            assert status in (403, 503), status  # no CSRF token: refused, but never a 500
            status, body, _ = web.request("GET", "/readyz")
            assert status == 503
            checks = json.loads(body)["checks"]
            assert checks["redis"].startswith("error"), checks
            assert checks["database"] == "ok", checks

        web.redis.start()  # same port, empty: the old session is gone, gunicorn is not restarted
        for _ in range(4):
            assert web.request("GET", "/accounts/login/")[0] == 200
            assert web.request("GET", "/readyz")[0] == 200
            assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 302  # signed out, not an error
        cookies = sign_in(web, user.email)
        assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 200


# --- 2. A worker SIGKILLed in the middle of sending ----------------------------------------------


def test_worker_killed_mid_send_mail_is_delivered_exactly_once(redis_server_binary, tmp_path, settings, celery_on):
    user = User.objects.create_user("grace@example.com", PASSWORD, email_verified=True)
    settings.MAIL_SWEEP_AFTER = 0
    with stack(tmp_path) as web:
        celery_on(web.broker_url)
        web.sink.slow_rcpt_once = 4.0
        first = web.start_worker()
        with transaction.atomic():
            row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        assert web.sink.rcpt_seen.wait(20), f"the worker never reached RCPT\n{web.logs()}"

        first.send_signal(signal.SIGKILL)
        first.wait(5)
        assert web.sink.messages == []
        row.refresh_from_db()
        assert row.sent_at is None and row.claimed_until is not None, "the killed worker still holds its claim"

        web.start_worker()
        # Until the claim's lease ends (10 minutes) nobody sends it: the worker may have been killed after
        # the mail went out. The lease is run out here rather than waited for.
        assert sweep_outbox() == 0
        time.sleep(2)
        assert web.sink.messages == []
        OutboxMail.objects.filter(pk=row.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))

        def delivered():
            # A new task skips the row while it is claimed, so the sweep is repeated (as beat would).
            if not web.sink.messages:
                sweep_outbox()
                time.sleep(1.0)
            return web.sink.messages

        wait_for(delivered, 30, f"the mail after the sweep\n{web.logs()}", interval=0.1)
        time.sleep(3)  # any duplicate (a re-delivered task, a second sweep) would arrive by now
        assert len(web.sink.messages) == 1
        assert web.sink.messages[0]["To"] == user.email
        row.refresh_from_db()
        assert row.sent_at is not None
        assert row.last_error == ""


# --- 3. SMTP refusing, then accepting ----------------------------------------------------------


def test_smtp_refusing_then_back_delivers_once(redis_server_binary, tmp_path, settings, celery_on):
    user = User.objects.create_user("hopper@example.com", PASSWORD, email_verified=True)
    settings.MAIL_SWEEP_AFTER = 0
    with stack(tmp_path) as web:
        celery_on(web.broker_url)
        web.sink.refusing = True
        web.start_worker()
        with transaction.atomic():
            row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)

        def failed_once():
            row.refresh_from_db()
            return row.attempts > 0 and row.last_error

        wait_for(failed_once, 20, f"a failed attempt to be recorded\n{web.logs()}", interval=0.1)
        assert "451" in row.last_error
        assert row.sent_at is None
        assert web.sink.refused >= 1 and web.sink.messages == []

        web.sink.refusing = False
        assert sweep_outbox() == 1  # as beat would; the task's own retry may also come
        wait_for(lambda: web.sink.messages, 20, f"the mail once SMTP accepts\n{web.logs()}", interval=0.1)
        time.sleep(3)
        assert len(web.sink.messages) == 1
        row.refresh_from_db()
        assert row.sent_at is not None
        assert row.last_error == ""
        assert row.attempts >= 2
