"""Anonymous requests cannot fill Redis (issue 13, section 5).

The attacker sends a hundred requests to every page and endpoint anyone can reach without an
account, from one address, each from a fresh cookie jar (a script that drops cookies: the worst case
for session creation). Redis (the real one, this test's database) must hold no session afterwards,
and only the per-address (or per-address-and-account) rate-limit counters, whose number does not grow
with the number of requests: the count after the first few requests is the count after all of them.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from identity.redis import connection
from tests.mfa.softauthn import SoftAuthenticator
from tests.oidc.relying_party import RelyingParty, register

pytestmark = pytest.mark.django_db

WARM_UP = 10  # every counter the endpoint uses exists after these
ROUNDS = 90  # a hundred requests in all: a key made per request would show as 90 more
AT_MOST = 6  # counter keys one endpoint may leave (sign-in spends four per address and account)

PASSKEY_OPTIONS = "/accounts/passkeys/signin/options/"


def _authorization(app: RelyingParty, **extra) -> str:
    return app.authorization(**extra)["url"]


def _valid_links(user) -> dict[str, str]:
    """Links the attacker really received (their own sign-up, reset and email-change mail), opened
    again and again: each one carries a valid signature."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.tokens import make_email_change_token, make_verification_token

    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return {
        "verify": f"/accounts/verify/{make_verification_token(user)}/",
        "email-change": f"/accounts/email/confirm/{make_email_change_token(user, 'new@example.com')}/",
        "reset": f"/accounts/password/reset/{uid}/{default_token_generator.make_token(user)}/",
    }


def _stranger_passkey(browser: Client):
    """Passkey sign-in with a passkey this site never registered: options, then a signed answer."""
    options = browser.post(PASSKEY_OPTIONS, "{}", content_type="application/json").json()
    stranger = SoftAuthenticator()
    stranger.new_credential("testserver", b"\x02" * 16)
    body = json.dumps({"credential": stranger.get(options)})
    return browser.post("/accounts/passkeys/signin/", body, content_type="application/json")


# (id, what one anonymous request does). Each takes a fresh browser and the registered app.
PUBLIC = {
    "signin-page": lambda b, app: b.get("/accounts/login/?next=/accounts/security/"),
    "signin-wrong-password": lambda b, app: b.post("/accounts/login/", {"email": "ada@example.com", "password": "x"}),
    "signup-page": lambda b, app: b.get("/accounts/signup/"),
    "signup": lambda b, app: b.post("/accounts/signup/", {"email": "new@example.com", "password": "too short"}),
    "reset-page": lambda b, app: b.get("/accounts/password/reset/"),
    "reset": lambda b, app: b.post("/accounts/password/reset/", {"email": "ada@example.com"}),
    "authorize": lambda b, app: b.get(_authorization(app)),
    "authorize-prompt-login": lambda b, app: b.get(_authorization(app, prompt="login")),
    "authorize-max-age": lambda b, app: b.get(_authorization(app, max_age="0")),
    "authorize-acr": lambda b, app: b.get(_authorization(app, acr_values="phr")),
    "authorize-by-post": lambda b, app: b.post("/oauth/authorize/", app.authorization()["params"]),
    "authorize-unknown-client": lambda b, app: b.get(_authorization(app, client_id="nobody")),
    "discovery": lambda b, app: b.get("/.well-known/openid-configuration"),
    "jwks": lambda b, app: b.get("/oauth/jwks/"),
    "passkey-options": lambda b, app: b.post(PASSKEY_OPTIONS, "{}", content_type="application/json"),
    "passkey-unknown-credential": lambda b, app: _stranger_passkey(b),
    "passkey-junk": lambda b, app: b.post("/accounts/passkeys/signin/", "{}", content_type="application/json"),
    "verify-link-junk": lambda b, app: b.get("/accounts/verify/junk-token/"),
    "email-link-junk": lambda b, app: b.get("/accounts/email/confirm/junk-token/"),
    "reset-link-junk": lambda b, app: b.get("/accounts/password/reset/MQ/junk-token/"),
    "verify-link-valid": lambda b, app: b.get(_valid_links(app.user)["verify"], follow=True),
    "email-link-valid": lambda b, app: b.get(_valid_links(app.user)["email-change"], follow=True),
    "reset-link-valid": lambda b, app: b.get(_valid_links(app.user)["reset"], follow=True),
    "signin-realm": lambda b, app: b.get("/accounts/login/realm/?domain=example.org"),
    "federation-verify-link-junk": lambda b, app: b.get("/accounts/federation/verify/junk-token/"),
    "federation-verify-sent-junk": lambda b, app: b.get("/accounts/federation/verify/sent/?b=junk", follow=True),
    "federation-verify-confirm": lambda b, app: b.post("/accounts/federation/verify/confirm/"),
    "mfa-page": lambda b, app: b.get("/accounts/mfa/"),
    "signout": lambda b, app: b.post("/accounts/logout/"),
    "app-logout": lambda b, app: b.get("/oauth/logout/"),
}


@pytest.fixture
def app(db, make_user) -> RelyingParty:
    client, secret = register()
    app = RelyingParty(client, secret)
    app.user = make_user("mallory@example.com", email_verified=False)  # type: ignore[attr-defined]  # the attacker's own
    return app


@pytest.mark.parametrize("request_once", PUBLIC.values(), ids=PUBLIC.keys())
def test_a_hundred_anonymous_requests_store_no_session_and_a_fixed_number_of_counters(
    request_once, app, user, generous_limits
):
    """Generous limits, so every request reaches its view: the limiter is not what keeps Redis small."""
    redis = connection()
    redis.flushdb()
    for _ in range(WARM_UP):
        assert request_once(Client(raise_request_exception=False), app).status_code < 500
    warm = sorted(redis.keys("*"))
    for _ in range(ROUNDS):
        request_once(Client(raise_request_exception=False), app)
    after = sorted(redis.keys("*"))

    assert not [key for key in after if key.startswith(b"session:")], f"{len(after)} keys, sessions among them"
    assert after == warm, "the number of keys grows with the number of requests"
    assert len(after) <= AT_MOST and all(key.startswith(b"rl:") for key in after), after


def test_the_authorize_limit_answers_429_with_a_page_and_keeps_one_counter_per_address(app, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "authorize-ip": "5/h"}  # no refill during the test, however slow
    redis = connection()
    for _ in range(5):
        assert Client().get(_authorization(app)).status_code == 302
    for _ in range(200):
        throttled = Client().get(_authorization(app))
        assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert throttled["Content-Type"].startswith("text/html") and b"Too many attempts" in throttled.content
    # One counter for the address, and the one that keeps the audit trail of refusals from flooding.
    assert sorted(key.split(b":")[1] for key in redis.keys("*")) == [b"audit-throttled", b"authorize-ip"]
    # Another address is not held back by this one.
    assert Client(REMOTE_ADDR="203.0.113.7").get(_authorization(app)).status_code == 302
