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
