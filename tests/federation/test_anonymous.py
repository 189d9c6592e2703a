"""Anonymous requests to federation's addresses cannot fill Redis (as tests/identity/test_anonymous_redis.py
asks of every public page): starting sign-ins, and callbacks with or without a ticket, store no session
and only a per-address counter (besides the provider's cached discovery document and keys, a fixed
number per provider: federation/metadata.py), however many there are."""

from __future__ import annotations

import pytest
from django.test import Client

from identity.redis import connection

from .browsing import to_provider

pytestmark = pytest.mark.django_db

WARM_UP = 5
ROUNDS = 60

REQUESTS = {
    "start": lambda browser: browser.get("/accounts/federation/acme/?next=/accounts/security/"),
    "callback-without-ticket": lambda browser: browser.get("/accounts/federation/acme/callback/?code=x&state=y"),
    "callback-with-wrong-state": lambda browser: (
        to_provider(browser),
        browser.get("/accounts/federation/acme/callback/?code=x&state=y"),
    )[1],
    "callback-unknown-provider": lambda browser: browser.get("/accounts/federation/nobody/callback/?code=x&state=y"),
}


@pytest.mark.parametrize("request_once", REQUESTS.values(), ids=REQUESTS.keys())
def test_many_anonymous_requests_store_no_session_and_a_fixed_number_of_counters(
    request_once, provider, generous_limits
):
    redis = connection()
    redis.flushdb()
    for _ in range(WARM_UP):
        assert request_once(Client(raise_request_exception=False)).status_code < 500
    warm = sorted(redis.keys("*"))
    for _ in range(ROUNDS):
        request_once(Client(raise_request_exception=False))
    after = sorted(redis.keys("*"))

    assert not [key for key in after if key.startswith(b"session:")], after
    cached = f"identity:1:federation:{provider.pk}:".encode()  # its discovery document and keys
    counters = [key for key in after if not key.startswith(cached)]
    assert after == warm and len(counters) <= 2 and all(key.startswith(b"rl:") for key in counters), after
