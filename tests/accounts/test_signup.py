import pytest

from accounts.models import OutboxMail, User
from tests.timing import interleaved_medians, median_hash_time, statements
from tests.users import PASSWORD

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


def _sign_up(client, address: str, i: int = 0):
    """A sign-up with the taken address, or with a new one each time."""
    email = address if address != "new" else f"fresh{i}@example.com"
    return client.post("/accounts/signup/", {"email": email, "password": PASSWORD})


@pytest.mark.django_db(transaction=True)  # commits, so the deferred foreign-key checks and the publish run too
@pytest.mark.usefixtures("production_argon2")
def test_signup_timing_does_not_tell_a_taken_address_from_a_new_one(client, user, generous_limits):
    from django.contrib.auth.hashers import make_password

    variants = (user.email, "new")
    taken_sql, new_sql = (statements(lambda: _sign_up(client, address, 1000)) for address in variants)  # noqa: B023 (called at once)
    assert taken_sql == new_sql, "the same statements either way"
    taken, new = interleaved_medians(lambda address, i: _sign_up(client, address, i), variants)
    # One Argon2 hash is ~20 ms here; skipping it on either path would show as a gap of that size.
    hash_time = median_hash_time(lambda: make_password(PASSWORD))
    assert abs(taken - new) < 0.5 * hash_time, (taken, new, hash_time)


def test_outbox_rows_hold_no_tokens(client):
    client.post("/accounts/signup/", {"email": "n@example.com", "password": PASSWORD})
    row = OutboxMail.objects.get()
    values = " ".join(str(getattr(row, f.attname)) for f in OutboxMail._meta.fields)
    assert row.kind == "verify_email"
    assert "/accounts/verify/" not in values
    assert PASSWORD not in values


@pytest.mark.django_db(transaction=True)
def test_a_sign_up_racing_another_for_the_same_address_mails_the_owner_a_notice():
    """The other sign-up has inserted the address but not committed: this one waits on the unique
    constraint, then finds that account instead of failing."""
    import threading

    from django.db import connection, transaction
    from django.test import Client

    responses = []

    def sign_up():
        try:
            responses.append(Client().post("/accounts/signup/", {"email": "Race@example.com", "password": PASSWORD}))
        finally:
            connection.close()

    with transaction.atomic():
        winner = User.objects.create_user("race@example.com", PASSWORD)
        racer = threading.Thread(target=sign_up)
        racer.start()
        racer.join(timeout=1)
        assert racer.is_alive(), "the second sign-up waits for the first to commit"
    racer.join(timeout=10)
    assert [r.status_code for r in responses] == [302]
    assert list(User.objects.values_list("pk", flat=True)) == [winner.pk]
    assert list(OutboxMail.objects.values_list("kind", "user")) == [(OutboxMail.Kind.ACCOUNT_EXISTS, winner.pk)]
