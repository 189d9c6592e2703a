"""The security page's "Recent sign-in activity" collapses identical refusals in a row (issue 19)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.flows.security import signin_history
from accounts.models import SecurityEvent
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"


def event(user, minutes_ago: int, kind=Event.SIGNIN_FAILED, ip="203.0.113.9", ua=CHROME, reason="bad_credentials"):
    return SecurityEvent.objects.create(
        user=user,
        kind=kind,
        method="pwd",
        reason=reason,
        ip=ip,
        user_agent=ua,
        at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def history_section(html: str) -> str:
    return html.split('id="history-heading"', 1)[1].split("</section>", 1)[0]


def test_identical_refusals_in_a_row_are_one_line_with_a_count(user):
    for minutes in (50, 40, 30, 20, 10):
        event(user, minutes)
    entries = signin_history(user)
    assert [entry.count for entry in entries] == [5]
    assert entries[0].event.at > entries[0].earliest
    assert entries[0].earliest == SecurityEvent.objects.order_by("at").first().at


def test_only_runs_of_the_same_refusal_collapse(user):
    event(user, 60)
    event(user, 50)
    event(user, 40, ip="198.51.100.7")  # another address
    event(user, 35, ua=FIREFOX)  # another device
    event(user, 30, reason="reauth")  # another reason
    event(user, 20, kind=Event.SIGNIN_SUCCEEDED, reason="")
    event(user, 15, kind=Event.SIGNIN_SUCCEEDED, reason="")  # sign-ins are never collapsed
    event(user, 10)
    assert [(e.event.kind, e.count) for e in signin_history(user)] == [
        (Event.SIGNIN_FAILED, 1),
        (Event.SIGNIN_SUCCEEDED, 1),
        (Event.SIGNIN_SUCCEEDED, 1),
        (Event.SIGNIN_FAILED, 1),
        (Event.SIGNIN_FAILED, 1),
        (Event.SIGNIN_FAILED, 1),
        (Event.SIGNIN_FAILED, 2),
    ]


def test_a_flood_of_refusals_does_not_push_the_sign_ins_off_the_list(user):
    event(user, 500, kind=Event.SIGNIN_SUCCEEDED, reason="")
    for minutes in range(100, 0, -1):
        event(user, minutes)
    entries = signin_history(user)
    assert [(e.event.kind, e.count) for e in entries] == [(Event.SIGNIN_FAILED, 100), (Event.SIGNIN_SUCCEEDED, 1)]


@pytest.mark.parametrize(("language", "times"), [("en", "5 times"), ("de", "5-mal")])
def test_the_page_says_how_many_times(user, language, times):
    for minutes in (50, 40, 30, 20, 10):
        event(user, minutes)
    c = Client(HTTP_ACCEPT_LANGUAGE=language)
    assert c.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    section = history_section(c.get("/accounts/security/").content.decode())
    assert times in section
    assert ("since" if language == "en" else "seit") in section
    assert section.count('<tr class="event-signin_failed">') == 1
