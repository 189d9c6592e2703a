import smtplib
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts import tasks
from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail
from accounts.outbox import queue_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def row(user):
    with transaction.atomic():
        return queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)


def test_a_row_is_sent_once_even_if_the_task_runs_twice(row, mailoutbox):
    tasks.send_outbox_mail(row.pk)
    tasks.send_outbox_mail(row.pk)
    assert len(mailoutbox) == 1
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1 and row.state == "sent"


def test_a_task_for_a_missing_row_does_nothing(mailoutbox):
    tasks.send_outbox_mail(999_999)
    assert mailoutbox == []


def test_smtp_failure_is_recorded_and_raised_so_celery_retries(row, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("connection lost")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        tasks.send_outbox_mail(row.pk)
    row.refresh_from_db()
    assert row.sent_at is None and row.attempts == 1
    assert "connection lost" in row.last_error
    assert row.state == "retrying"
    assert smtplib.SMTPException in tasks.send_outbox_mail.autoretry_for


def test_mail_has_text_and_html_parts_naming_the_site(row, mailoutbox, settings):
    tasks.send_outbox_mail(row.pk)
    mail = mailoutbox[0]
    assert mail.subject.startswith(settings.SITE_NAME)
    assert settings.SITE_NAME in mail.body or "/accounts/password/reset/" in mail.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html"
    assert settings.SITE_NAME in html
    assert "&amp;" not in mail.body  # the text part is not HTML-escaped


def test_sweep_enqueues_only_old_unsent_rows(user, monkeypatch, settings):
    enqueued = []
    monkeypatch.setattr(tasks, "enqueue", enqueued.append)
    with transaction.atomic():
        fresh = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        stale = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        sent = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        hopeless = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
    old = timezone.now() - timedelta(seconds=accounts_settings.MAIL_SWEEP_AFTER + 1)
    OutboxMail.objects.filter(pk__in=[stale.pk, sent.pk, hopeless.pk]).update(created_at=old)
    OutboxMail.objects.filter(pk=sent.pk).update(sent_at=timezone.now())
    OutboxMail.objects.filter(pk=hopeless.pk).update(attempts=accounts_settings.MAIL_MAX_ATTEMPTS)
    assert tasks.sweep_outbox() == 1
    assert enqueued == [stale.pk]
    assert fresh.pk not in enqueued


def test_enqueue_survives_a_dead_broker(row, settings, caplog):
    from accounts.outbox import enqueue
    from identity.celery import app
    from tests.processes import point_celery_at

    point_celery_at("redis://127.0.0.1:1/0")
    try:
        assert app.conf.broker_write_url == "redis://127.0.0.1:1/0"
        enqueue(row.pk)  # must not raise
    finally:
        point_celery_at(settings.CELERY_BROKER_URL)
    assert f"mail {row.pk} left for the outbox sweep" in caplog.text


def test_sweep_waits_longer_after_each_failed_attempt(user, monkeypatch, settings):
    enqueued = []
    monkeypatch.setattr(tasks, "enqueue", enqueued.append)
    with transaction.atomic():
        row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
    now = timezone.now()
    old = now - timedelta(seconds=accounts_settings.MAIL_SWEEP_AFTER + 1)
    # Failed 3 times, the last one 5 minutes ago: the next try is due 2 min × 2² = 8 min after it.
    OutboxMail.objects.filter(pk=row.pk).update(
        created_at=old - timedelta(hours=1), attempts=3, last_attempt_at=now - timedelta(minutes=5)
    )
    assert tasks.sweep_outbox() == 0
    OutboxMail.objects.filter(pk=row.pk).update(last_attempt_at=now - timedelta(minutes=9))
    assert tasks.sweep_outbox() == 1 and enqueued == [row.pk]


def test_a_failed_send_records_when_it_was_tried(row, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        tasks.send_outbox_mail(row.pk)
    row.refresh_from_db()
    assert row.last_attempt_at is not None


# --- a row is claimed before it is sent, and its links are minted once (issue 19) ---------------------


def reset_links(mails) -> list[str]:
    return [line for mail in mails for line in mail.body.split() if "/accounts/password/reset/" in line]


def test_a_second_worker_finds_the_row_claimed_while_the_first_is_sending(row, mailoutbox, monkeypatch):
    """Two sweeps enqueue the same row; the second worker starts while the first is in its SMTP call."""
    from django.core.mail.backends.locmem import EmailBackend

    send = EmailBackend.send_messages
    seen = []

    def meanwhile_another_worker(self, messages):
        if not seen:
            seen.append(1)
            tasks.send_outbox_mail(row.pk)  # the other worker, at the worst moment
        return send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", meanwhile_another_worker)
    tasks.send_outbox_mail(row.pk)
    assert len(mailoutbox) == 1
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_a_row_once(user, mailoutbox):
    import threading

    from django.db import connection

    with transaction.atomic():
        row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
    start = threading.Barrier(4)

    def worker():
        start.wait()
        try:
            tasks.send_outbox_mail(row.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mailoutbox) == 1


def test_a_database_error_after_sending_never_sends_a_second_different_link(row, mailoutbox, monkeypatch):
    """SQLite said `database is locked` when the worker recorded the mail sent: the sweep must not send it
    again at once, and when the lease has run out it sends the same link, not a fresh one."""
    from django.db import OperationalError
    from django.db.models.query import QuerySet

    update = QuerySet.update

    def locked_when_recording_sent(self, **kwargs):
        if "sent_at" in kwargs:
            raise OperationalError("database is locked")
        return update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", locked_when_recording_sent)
    with pytest.raises(OperationalError):
        tasks.send_outbox_mail(row.pk)
    assert len(mailoutbox) == 1
    monkeypatch.setattr(QuerySet, "update", update)

    OutboxMail.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert tasks.sweep_outbox() == 0  # still claimed by the worker that may have sent it
    tasks.send_outbox_mail(row.pk)  # a task delivered again
    assert len(mailoutbox) == 1

    OutboxMail.objects.filter(pk=row.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    tasks.send_outbox_mail(row.pk)  # the lease ran out: tried again, with the link already minted
    assert len(mailoutbox) == 2
    first, second = reset_links(mailoutbox)
    assert first == second
    row.refresh_from_db()
    assert row.state == "sent" and row.links == {}  # the token is not kept once sent


def test_a_retry_after_an_smtp_failure_sends_the_link_minted_first(row, mailoutbox, monkeypatch, user):
    from django.core.mail.backends.locmem import EmailBackend

    send = EmailBackend.send_messages

    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        tasks.send_outbox_mail(row.pk)
    row.refresh_from_db()
    kept = row.links["reset_url"]
    monkeypatch.setattr(EmailBackend, "send_messages", send)
    user.last_login = timezone.now()  # a change that would make a fresh reset token differ
    user.save(update_fields=["last_login"])
    tasks.send_outbox_mail(row.pk)
    assert reset_links(mailoutbox) == [kept]


def test_a_retry_long_into_an_outage_mints_links_that_still_work(row, mailoutbox, monkeypatch, user):
    """The first link was minted 40 minutes ago: a reset link lives an hour, so re-sending it could mail one
    that is dead on arrival; a retry that late mints new links, and the reset link in it works."""
    from django.core.mail.backends.locmem import EmailBackend

    send = EmailBackend.send_messages
    monkeypatch.setattr(EmailBackend, "send_messages", lambda self, messages: (_ for _ in ()).throw(OSError("down")))
    with pytest.raises(OSError):
        tasks.send_outbox_mail(row.pk)
    row.refresh_from_db()
    kept = row.links["reset_url"]
    minted = timezone.now() - tasks.LINKS_KEPT_FOR - timedelta(minutes=10)
    OutboxMail.objects.filter(pk=row.pk).update(links={**row.links, tasks.MINTED_AT: minted.isoformat()})
    monkeypatch.setattr(EmailBackend, "send_messages", send)
    user.last_login = timezone.now()  # the kept token no longer matches the account (as an expired one)
    user.save(update_fields=["last_login"])
    tasks.send_outbox_mail(row.pk)
    [fresh] = reset_links(mailoutbox)
    assert fresh != kept
    page = Client().get(fresh.removeprefix("http://testserver"), follow=True)
    assert b'name="new_password1"' in page.content, "the freshly minted reset link works"
