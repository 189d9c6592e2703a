"""Issue 19 review (attacker's view): self-service, outbox links, password-change counters, history."""

from __future__ import annotations

import pytest

from accounts.models import SecurityEvent

NAME_URL = "/accounts/name/"

pytestmark = pytest.mark.django_db


def test_a_name_that_nfc_makes_longer_than_the_column_is_refused_not_a_500(signed_in_client, user):
    """U+0958 is a composition exclusion: NFC turns each into two code points, so 150 typed characters
    (within the form's max_length) became 300 and PostgreSQL's varchar(150) refused them with a 500."""
    response = signed_in_client.post(NAME_URL, {"display_name": "\u0958" * 150})
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.display_name == ""


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u2060", "\ufeff", "\u00ad", "\U000e0041", "\u2062", "\u180e"],
)
def test_invisible_format_characters_are_refused_in_a_name(signed_in_client, user, invisible):
    """Zero-width and tag characters let a name look like another ("Ad\u200bmin" shows as "Admin") and
    hide text in what apps are told; only the joiners that scripts and emoji need are allowed."""
    response = signed_in_client.post(NAME_URL, {"display_name": f"Ad{invisible}min"})
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.display_name == ""
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.NAME_CHANGED).exists()


# --- the outbox's kept links ----------------------------------------------------------------------


@pytest.fixture
def helpdesk(make_user):
    """Staff who may look at the outbox (to see why a mail did not arrive), nothing more."""
    from django.contrib.auth.models import Permission

    from tests.users import add_totp, sign_in_admin

    person = make_user("helpdesk@example.com", is_staff=True)
    add_totp(person)
    person.user_permissions.add(Permission.objects.get(codename="view_outboxmail"))
    return sign_in_admin(person)


def kept_reset_link(user) -> str:
    """A reset mail whose sending failed after its link was minted (an SMTP outage): the row keeps it."""
    from django.db import transaction

    from accounts.models import OutboxMail
    from accounts.outbox import queue_mail

    with transaction.atomic():
        row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
    row.links = {"reset_url": "https://id.example.com/accounts/reset/MQ/secret-token/"}
    row.save(update_fields=["links"])
    return row.links["reset_url"]


@pytest.mark.parametrize(
    "lookup",
    ["links__reset_url__startswith", "links__reset_url__gt", "links__icontains", "claim__startswith"],
)
def test_outbox_admin_filters_cannot_read_a_kept_link_letter_by_letter(helpdesk, user, lookup):
    """The admin hides `links`, but a changelist accepts any lookup on a local field from its query string:
    ?links__reset_url__startswith=https://.../reset/MQ/s answered 1 row or 0, so staff who may only view
    the outbox read a live reset link a character at a time (a binary search with __gt), and took over the
    account whose reset mail was waiting out an SMTP outage (anyone can ask for that mail)."""
    link = kept_reset_link(user)
    prefix = link[:-10] if lookup != "links__icontains" else "secret-token"
    right = helpdesk.get("/admin/accounts/outboxmail/", {lookup: prefix})
    wrong = helpdesk.get("/admin/accounts/outboxmail/", {lookup: "zzz" if lookup.endswith("gt") else "nope"})
    assert right.status_code == wrong.status_code
    assert right.status_code == 400 or (right.status_code == 302 and right["Location"] == wrong["Location"]), (
        "a filter on the kept links must be refused"
    )


# --- history collapsing ---------------------------------------------------------------------------


def test_a_flood_of_alternating_refusals_does_not_push_a_sign_in_off_the_history(user):
    """Only identical refusals in a row collapse: someone who signed in with a stolen password, then sends
    wrong passwords (or throttled attempts, recorded too) alternating two browsers or two addresses, made
    twenty lines that never collapse, and their sign-in left "Recent sign-in activity"."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.flows.security import signin_history

    chrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
    now = timezone.now()
    stolen = SecurityEvent.objects.create(
        user=user,
        kind=SecurityEvent.Kind.SIGNIN_SUCCEEDED,
        method="pwd",
        ip="198.51.100.7",
        at=now - timedelta(hours=1),
    )
    for i in range(40):
        SecurityEvent.objects.create(
            user=user,
            kind=SecurityEvent.Kind.SIGNIN_THROTTLED,
            method="pwd",
            reason="throttled",
            ip="198.51.100.7",
            user_agent=(chrome, firefox)[i % 2],
            at=now - timedelta(minutes=40 - i),
        )
    shown = [entry.event.pk for entry in signin_history(user)]
    assert stolen.pk in shown


def test_a_mail_that_gives_up_keeps_no_live_link(user, monkeypatch):
    """Links are erased once sent; a row that spent its last attempt (a long SMTP outage) kept its live
    reset link in the database for good: in every backup, and for the admin retry to send much later."""
    import smtplib

    from django.core.mail.backends.locmem import EmailBackend
    from django.db import transaction

    from accounts import tasks
    from accounts.app_settings import app_settings
    from accounts.models import OutboxMail
    from accounts.outbox import queue_mail

    with transaction.atomic():
        row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
    OutboxMail.objects.filter(pk=row.pk).update(attempts=app_settings.MAIL_MAX_ATTEMPTS - 1)

    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        tasks.send_outbox_mail(row.pk)
    row.refresh_from_db()
    assert row.attempts == app_settings.MAIL_MAX_ATTEMPTS and row.sent_at is None
    assert row.links == {}
