import re

import pytest
from django.test import Client

from accounts.sessions import data_key, user_sessions
from identity.redis import connection
from tests.timing import interleaved_medians, statements
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase 7"


def sign_in(user, password=PASSWORD) -> Client:
    c = Client(raise_request_exception=False)
    assert c.post("/accounts/login/", {"email": user.email, "password": password}).status_code == 302
    return c


def is_signed_in(c: Client) -> bool:
    return c.get("/accounts/").status_code == 200


# --- change -------------------------------------------------------------------------------------


def change(c, old=PASSWORD, new=NEW, again=None):
    return c.post(
        "/accounts/password/change/",
        {"old_password": old, "new_password1": new, "new_password2": again or new},
    )


def test_change_needs_the_current_password(user):
    c = sign_in(user)
    response = change(c, old="not my password at all")
    assert response.status_code == 400
    assert "incorrectly" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_change_applies_the_password_rules(user):
    response = change(sign_in(user), new="short")
    assert response.status_code == 400
    assert "at least 12" in response.content.decode()


def test_change_keeps_this_session_ends_the_others_and_mails_the_owner(user, deliver_outbox):
    here, elsewhere = sign_in(user), sign_in(user)
    old_key = here.cookies["__Host-session"].value
    response = change(here)
    assert response.status_code == 302
    assert is_signed_in(here)
    assert here.cookies["__Host-session"].value != old_key, "the session key rotates on change"
    assert not is_signed_in(elsewhere)
    assert len(user_sessions(user.pk)) == 1
    user.refresh_from_db()
    assert user.check_password(NEW)
    changed = [m for m in deliver_outbox() if "password was changed" in m.subject]
    assert [m.to for m in changed] == [[user.email]]


def test_change_page_needs_sign_in(client):
    response = client.get("/accounts/password/change/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_change_form_uses_password_manager_hints(user):
    body = sign_in(user).get("/accounts/password/change/").content.decode()
    assert 'autocomplete="current-password"' in body
    assert body.count('autocomplete="new-password"') == 2


# --- reset --------------------------------------------------------------------------------------


def request_reset(c, email):
    return c.post("/accounts/password/reset/", {"email": email})


def reset_path(mail) -> str:
    return re.search(r"http://testserver(/accounts/password/reset/[^\s]+/)", mail.body).group(1)


def test_reset_for_unknown_address_looks_the_same_and_sends_nothing(client, user, deliver_outbox):
    unknown = request_reset(client, "nobody@example.com")
    known = request_reset(client, user.email)
    assert unknown.status_code == known.status_code == 302
    assert unknown["Location"] == known["Location"] == "/accounts/password/reset/sent/"
    assert [m.to for m in deliver_outbox()] == [[user.email]]


def test_reset_link_is_swapped_for_a_session_value_before_the_form(client, user, deliver_outbox):
    request_reset(client, "ADA@example.com")
    path = reset_path(deliver_outbox()[0])
    response = client.get(path)
    assert response.status_code == 302
    form_url = response["Location"]
    assert form_url.endswith("/set-password/")
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert token not in form_url
    page = client.get(form_url)
    assert page.status_code == 200
    assert token not in page.content.decode()
    assert 'autocomplete="new-password"' in page.content.decode()


def test_reset_ends_every_session_and_verifies_the_address(client, make_user, deliver_outbox):
    user = make_user(email_verified=True)
    signed_in = sign_in(user)
    request_reset(client, user.email)
    form_url = client.get(reset_path(deliver_outbox()[0]))["Location"]
    done = client.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302
    assert done["Location"] == "/accounts/login/"
    assert not is_signed_in(signed_in)
    assert user_sessions(user.pk) == {}
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert is_signed_in(sign_in(user, NEW))


def test_reset_proves_the_address_of_an_unverified_account(client, make_user, deliver_outbox):
    user = make_user(email_verified=False)
    request_reset(client, user.email)
    form_url = client.get(reset_path(deliver_outbox()[0]))["Location"]
    client.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    user.refresh_from_db()
    assert user.email_verified


def test_reset_link_works_once(client, user, deliver_outbox):
    request_reset(client, user.email)
    path = reset_path(deliver_outbox()[0])
    form_url = client.get(path)["Location"]
    client.post(form_url, {"new_password1": NEW, "new_password2": NEW})

    again = Client(raise_request_exception=False)
    response = again.get(path)
    assert response.status_code == 400
    assert "no longer valid" in response.content.decode()


def test_reset_link_expires(client, user, deliver_outbox, settings, monkeypatch):
    request_reset(client, user.email)
    path = reset_path(deliver_outbox()[0])
    from django.contrib.auth.tokens import default_token_generator

    later = default_token_generator._now().timestamp() + settings.PASSWORD_RESET_TIMEOUT + 60
    from datetime import datetime

    monkeypatch.setattr(default_token_generator, "_now", lambda: datetime.fromtimestamp(later))
    assert client.get(path).status_code == 400


def test_reset_with_mismatched_passwords_gets_400_and_keeps_the_old_one(client, user, deliver_outbox):
    request_reset(client, user.email)
    form_url = client.get(reset_path(deliver_outbox()[0]))["Location"]
    response = client.post(form_url, {"new_password1": NEW, "new_password2": NEW + "x"})
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_reset_with_bad_address_gets_400(client):
    response = request_reset(client, "not an address")
    assert response.status_code == 400
    assert "valid email" in response.content.decode()


def test_ended_sessions_are_gone_from_redis(user):
    c = sign_in(user)
    key = data_key(c.cookies["__Host-session"].value)
    assert connection().exists(key)
    from accounts.sessions import end_user_sessions

    assert end_user_sessions(user.pk) == 1
    assert not connection().exists(key)


@pytest.mark.django_db(transaction=True)  # commits, so the deferred foreign-key checks and the publish run too
def test_reset_timing_does_not_tell_a_known_address_from_an_unknown_one(client, user, generous_limits):
    def request(email, i=0):
        return client.post("/accounts/password/reset/", {"email": email})

    emails = (user.email, "nobody@example.com")
    known_sql, unknown_sql = (statements(lambda: request(email)) for email in emails)  # noqa: B023 (called at once)
    assert known_sql == unknown_sql, "the same statements either way"
    known, unknown = interleaved_medians(request, emails)
    # Before decoy rows, the known path did an audit insert, an outbox insert and a publish more: ~3x slower.
    assert abs(known - unknown) < 0.35 * max(known, unknown), (known, unknown)


def test_password_rules_judge_the_normalised_password(client):
    """Full-width letters fold to ASCII under NFKC: a common password in disguise is still common, and
    a password of decomposed characters is counted as it will be stored."""
    fullwidth = "ｐａｓｓｗｏｒｄ１２３４"
    response = client.post("/accounts/signup/", {"email": "n@example.com", "password": fullwidth})
    assert response.status_code == 400 and "too common" in response.content.decode()
    decomposed = "e\u0301" * 6  # 12 code points typed, 6 characters once composed
    response = client.post("/accounts/signup/", {"email": "m@example.com", "password": decomposed})
    assert response.status_code == 400 and "at least 12" in response.content.decode()


def test_overlong_sign_in_password_is_refused_before_hashing(client, user):
    response = client.post("/accounts/login/", {"email": user.email, "password": "x" * 5000})
    assert response.status_code == 400
    assert "too long" in response.content.decode()
