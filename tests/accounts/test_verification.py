import re

import pytest

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, SecurityEvent, User
from accounts.tokens import make_verification_token
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def unverified(make_user):
    return make_user("new@example.com", email_verified=False)


def link_path(token: str) -> str:
    return f"/accounts/verify/{token}/"


def test_link_is_swapped_for_a_session_value_then_confirmed_by_post(client, unverified):
    response = client.get(link_path(make_verification_token(unverified)))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/verify/confirm/"
    page = client.get("/accounts/verify/confirm/")
    assert page.status_code == 200
    assert unverified.email in page.content.decode()
    unverified.refresh_from_db()
    assert not unverified.email_verified, "opening the link (as mail scanners do) must not verify"

    done = client.post("/accounts/verify/confirm/")
    assert done.status_code == 302
    assert done["Location"].startswith("/accounts/login/?email=")
    unverified.refresh_from_db()
    assert unverified.email_verified
    assert client.post("/accounts/login/", {"email": unverified.email, "password": PASSWORD}).status_code == 302


def test_link_works_once(client, unverified):
    token = make_verification_token(unverified)
    client.get(link_path(token))
    client.post("/accounts/verify/confirm/")
    other = type(client)(raise_request_exception=False)
    other.get(link_path(token))
    again = other.post("/accounts/verify/confirm/")
    assert again.status_code == 200  # it says so (issue 19), and verifies nothing again
    assert "already verified" in again.content.decode()
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.EMAIL_VERIFIED).count() == 1


def test_link_expires(client, unverified, settings, monkeypatch):
    token = make_verification_token(unverified)
    import time as time_module

    real_time = time_module.time
    monkeypatch.setattr(time_module, "time", lambda: real_time() + accounts_settings.EMAIL_VERIFICATION_TIMEOUT + 5)
    client.get(link_path(token))
    assert client.post("/accounts/verify/confirm/").status_code == 400
    unverified.refresh_from_db()
    assert not unverified.email_verified


@pytest.mark.parametrize("token", ["garbage", "eyJ1IjoxfQ:forged:signature", "x" * 300])
def test_forged_link_gets_a_clear_400(client, unverified, token):
    client.get(link_path(token))
    response = client.get("/accounts/verify/confirm/")
    assert response.status_code == 400
    assert "no longer valid" in response.content.decode()


def test_token_for_one_user_cannot_verify_another(client, unverified, make_user):
    from django.core import signing

    from accounts import tokens

    other = make_user("other@example.com", email_verified=False)
    good = make_verification_token(unverified)
    # A validly signed payload naming another user, but carrying this user's fingerprint.
    swapped = signing.dumps({"u": other.pk, "f": tokens._fingerprint(unverified)}, salt=tokens.SALT)
    # The other user's payload spliced onto this token's signature.
    spliced = make_verification_token(other).split(":")[0] + ":" + good.split(":", 1)[1]
    for token in (swapped, spliced):
        client.get(link_path(token))
        assert client.post("/accounts/verify/confirm/").status_code == 400
    other.refresh_from_db()
    assert not other.email_verified


def test_resend_mails_a_new_link_within_the_per_address_limit(client, unverified, deliver_outbox, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "verify-resend-address": "2/h"}
    first = client.post("/accounts/verify/resend/", {"email": unverified.email})
    second = client.post("/accounts/verify/resend/", {"email": unverified.email.upper()})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == "/accounts/signup/check-inbox/"
    third = client.post("/accounts/verify/resend/", {"email": " " + unverified.email})
    assert third.status_code == 429
    assert int(third["Retry-After"]) > 0
    mails = deliver_outbox()
    assert len(mails) == 2
    assert re.search(r"/accounts/verify/[^/\s]+/", mails[0].body)


def test_resend_for_unknown_or_verified_address_looks_the_same_and_sends_nothing(client, user, deliver_outbox):
    unknown = client.post("/accounts/verify/resend/", {"email": "nobody@example.com"})
    verified = client.post("/accounts/verify/resend/", {"email": user.email})
    assert unknown.status_code == verified.status_code == 302
    assert unknown["Location"] == verified["Location"]
    assert deliver_outbox() == []
    # Both wrote a decoy row (the same work as a real one, so timing tells nothing), discarded unsent.
    assert {row.state for row in OutboxMail.objects.all()} == {"discarded"}


def test_resend_with_bad_input_gets_400(client):
    assert client.post("/accounts/verify/resend/", {"email": "nope"}).status_code == 400


def test_mailed_link_verifies_end_to_end(client, deliver_outbox):
    client.post("/accounts/signup/", {"email": "flow@example.com", "password": PASSWORD})
    body = deliver_outbox()[0].body
    path = re.search(r"http://testserver(/accounts/verify/[^\s]+/)", body).group(1)
    client.get(path)
    client.post("/accounts/verify/confirm/")
    assert User.objects.get(email="flow@example.com").email_verified
