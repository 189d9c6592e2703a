"""Federation in /metrics: a sign-in through a provider is labelled `federation` (not `password`), and
each refusal is counted by provider and reason, where a made-up provider in the callback's path is
`unknown` rather than a series of its own."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.identity.test_metrics import sample, scrape
from tests.users import add_totp

from .browsing import sign_in_through

pytestmark = pytest.mark.django_db

SIGNINS = "identity_signins_total"
REFUSALS = "identity_federation_refusals_total"


def growth():
    before = scrape()[1]

    def grew(name: str, **labels) -> float:
        return sample(scrape()[1], name, **labels) - sample(before, name, **labels)

    return grew


def test_a_sign_in_through_a_provider_is_labelled_federation(provider):
    grew = growth()

    sign_in_through(Client())

    assert grew(SIGNINS, method="federation", outcome="success") == 1
    assert grew(SIGNINS, method="password", outcome="success") == 0


def test_one_waiting_for_our_second_factor_is_labelled_federation_too(provider):
    sign_in_through(Client())
    add_totp(User.objects.get())
    grew = growth()

    assert sign_in_through(Client())["Location"] == "/accounts/mfa/"

    assert grew(SIGNINS, method="federation", outcome="mfa_pending") == 1
    assert grew(SIGNINS, method="password", outcome="mfa_pending") == 0


def test_refusals_are_counted_by_provider_and_reason(provider, make_user):
    make_user("grace@example.org")  # the provider vouches for an address that has an account here
    grew = growth()

    sign_in_through(Client())

    assert grew(REFUSALS, provider="acme", reason="email_taken") == 1
    assert grew(SIGNINS, method="federation", outcome="refused") == 1
    assert grew(SIGNINS, method="password", outcome="bad_credentials") == 0, "no wrong password anywhere"


def test_a_made_up_provider_in_the_path_is_counted_as_unknown(provider):
    grew = growth()

    for slug in ("made-up-1", "made-up-2", "acme"):
        Client().get(f"/accounts/federation/{slug}/callback/", {"state": "x", "code": "y"})

    assert grew(REFUSALS, provider="unknown", reason="state") == 2
    assert grew(REFUSALS, provider="acme", reason="state") == 1
    assert "made-up" not in scrape()[1], "no series named after what the browser chose"
