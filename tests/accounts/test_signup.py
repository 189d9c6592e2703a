import statistics
import time

import pytest

from accounts.models import OutboxMail, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_signup_creates_an_unverified_account_and_mails_a_verification_link(client, deliver_outbox):
    response = client.post("/accounts/signup/", {"email": " New@Example.COM", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/signup/check-inbox/"
    user = User.objects.get()
    assert user.email == "New@example.com"
    assert not user.email_verified
    mail = deliver_outbox()
    assert len(mail) == 1
    assert mail[0].to == ["New@example.com"]
    assert "/accounts/verify/" in mail[0].body
    assert "Identity" in mail[0].subject
    html, mimetype = mail[0].alternatives[0]
    assert mimetype == "text/html" and "/accounts/verify/" in html


def test_signup_with_a_taken_address_looks_the_same_and_mails_the_owner_a_notice(client, user, deliver_outbox):
    fresh = client.post("/accounts/signup/", {"email": "someone@example.com", "password": PASSWORD})
    taken = client.post("/accounts/signup/", {"email": user.email.upper(), "password": "another long passphrase"})
    assert taken.status_code == fresh.status_code == 302
    assert taken["Location"] == fresh["Location"]
    assert User.objects.filter(email__lower=user.email.lower()).count() == 1
    user.refresh_from_db()
    assert user.check_password(PASSWORD), "the existing account must not change"
    notices = [m for m in deliver_outbox() if m.to == [user.email]]
    assert len(notices) == 1
    assert "already have" in notices[0].body
    assert "/accounts/verify/" not in notices[0].body
    assert "/accounts/password/reset/" in notices[0].body


def test_unverified_account_cannot_sign_in_and_is_offered_a_new_link(client, make_user):
    user = make_user(email_verified=False)
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    body = response.content.decode()
    assert "verify your email" in body
    assert "/accounts/verify/resend/" in body
    assert "_auth_user_id" not in client.session


def test_signup_page_uses_password_manager_hints(client):
    body = client.get("/accounts/signup/").content.decode()
    assert 'autocomplete="email"' in body
    assert 'autocomplete="new-password"' in body


def test_invalid_email_gets_a_message_and_400(client):
    response = client.post("/accounts/signup/", {"email": "not-an-address", "password": PASSWORD})
    assert response.status_code == 400
    assert "valid email" in response.content.decode()


def test_every_field_error_is_shown_at_once(client):
    body = client.post("/accounts/signup/", {"email": "not-an-address", "password": "short"}).content.decode()
    assert "valid email" in body and "at least 12 characters" in body


def _median_post_time(client, url, data_for, tries=9):
    samples = []
    for i in range(tries):
        start = time.perf_counter()
        client.post(url, data_for(i))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def test_signup_timing_does_not_tell_a_taken_address_from_a_new_one(client, user, generous_limits):
    taken = _median_post_time(client, "/accounts/signup/", lambda i: {"email": user.email, "password": PASSWORD})
    new = _median_post_time(
        client, "/accounts/signup/", lambda i: {"email": f"fresh{i}@example.com", "password": PASSWORD}
    )
    # One Argon2 hash is ~20 ms here; skipping it on either path would show as a gap of that size.
    hash_time = _time_one_hash()
    assert abs(taken - new) < 0.5 * hash_time, (taken, new, hash_time)


def _time_one_hash():
    from django.contrib.auth.hashers import make_password

    start = time.perf_counter()
    for _ in range(5):
        make_password(PASSWORD)
    return (time.perf_counter() - start) / 5


def test_outbox_rows_hold_no_tokens(client):
    client.post("/accounts/signup/", {"email": "n@example.com", "password": PASSWORD})
    row = OutboxMail.objects.get()
    values = " ".join(str(getattr(row, f.attname)) for f in OutboxMail._meta.fields)
    assert row.kind == "verify_email"
    assert "/accounts/verify/" not in values
    assert PASSWORD not in values
