"""A mail survives a broker outage, and a task delivered twice sends its mail once.

These tests use the real pieces: PostgreSQL with committed transactions, Redis as the Celery broker, a
Celery worker (a thread of this process) and an SMTP server on loopback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, User
from accounts.tasks import send_outbox_mail, sweep_outbox
from tests.processes import point_celery_at, wait_until_broker_idle
from tests.users import PASSWORD

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every connection is refused
EMAIL = "grace@example.com"
VERIFY_LINK = re.compile(r"http://testserver/accounts/verify/[^/\s]+/")

# Real commits: on_commit callbacks (the publish) run, and the worker thread sees the rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(settings):
    """The test broker, emptied before the test; Celery points at it again afterwards, whatever happened."""
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.flushdb()  # no task left over from another test may reach this test's worker
    try:
        yield queue
    finally:
        point_celery_at(settings.CELERY_BROKER_URL)
        queue.close()


@contextmanager
def broker_down(settings) -> Iterator[None]:
    """Celery publishes to a dead broker inside the block, and to the test broker again after it."""
    point_celery_at(DEAD_BROKER)
    try:
        yield
    finally:
        point_celery_at(settings.CELERY_BROKER_URL)


def messages_to(recorder, address: str) -> list:
    return [m for m in recorder.messages if address in str(m["To"])]


def body_text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_mail_written_during_a_broker_outage_is_sent_by_the_sweep(client, broker, settings, smtp_sink, request, caplog):
    # The broker is down: the sign-up must still succeed, leaving its mail in the outbox.
    with broker_down(settings):
        from identity.celery import app

        assert app.conf.broker_write_url == DEAD_BROKER
        started = time.monotonic()
        response = client.post("/accounts/signup/", {"email": EMAIL, "password": PASSWORD})
        elapsed = time.monotonic() - started
    assert response.status_code == 302, response.content
    assert response["Location"] == "/accounts/signup/check-inbox/"
    assert elapsed < 10, f"sign-up hung for {elapsed:.1f}s while the broker was down"
    assert User.objects.get_by_email(EMAIL).email_verified is False
    row = OutboxMail.objects.get(to=EMAIL)
    assert row.kind == OutboxMail.Kind.VERIFY_EMAIL
    assert row.sent_at is None
    assert row.attempts == 0
    assert f"mail {row.pk} left for the outbox sweep" in caplog.text  # the publish on commit did fail
    assert broker.llen("celery") == 0  # and nothing reached the real broker

    # The broker is back and a worker runs; the sweep only picks up rows older than MAIL_SWEEP_AFTER.
    request.getfixturevalue("celery_worker")
    assert sweep_outbox() == 0, "the sweep must leave a fresh row to the task enqueued on commit"
    OutboxMail.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(seconds=accounts_settings.MAIL_SWEEP_AFTER + 5)
    )

    sweep_outbox.delay()
    received = smtp_sink.wait_for(1)
    assert len(received) == 1, "the sweep did not get the mail sent"
    [message] = received
    assert str(message["To"]) == EMAIL
    assert VERIFY_LINK.search(body_text(message)), body_text(message)
    wait_until_broker_idle(broker)
    row.refresh_from_db()
    assert row.sent_at is not None
    assert row.attempts == 1
    assert row.last_error == ""

    # A later sweep finds nothing to do, whether run here or by the worker.
    assert sweep_outbox() == 0
    sweep_outbox.delay()
    wait_until_broker_idle(broker)
    time.sleep(1)
    assert len(smtp_sink.messages) == 1
    assert len(messages_to(smtp_sink, EMAIL)) == 1


def test_a_task_delivered_twice_sends_its_mail_once(broker, smtp_sink, celery_worker):
    user = User.objects.create_user(EMAIL, PASSWORD)
    # Written directly, without queue_mail, so that the two deliveries below are the only ones.
    row = OutboxMail.objects.create(kind=OutboxMail.Kind.VERIFY_EMAIL, user=user, to=user.email)

    send_outbox_mail.delay(row.pk)
    send_outbox_mail.delay(row.pk)

    assert len(smtp_sink.wait_for(1)) >= 1
    wait_until_broker_idle(broker)
    time.sleep(1)
    assert len(smtp_sink.messages) == 1
    assert str(smtp_sink.messages[0]["To"]) == EMAIL
    row.refresh_from_db()
    assert row.sent_at is not None
    assert row.attempts == 1
