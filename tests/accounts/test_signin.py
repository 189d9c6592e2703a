import re

import pytest

from accounts.sessions import SESSION_PREFIX, data_key
from identity.redis import connection
from tests.timing import interleaved_medians, median_hash_time, statements
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db


def test_signin_with_right_password_lands_on_account_page(client, user):
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/"
    page = client.get("/accounts/")
    assert page.status_code == 200
    assert user.email in page.content.decode()


def test_unknown_email_and_wrong_password_get_the_same_answer(client, user):
    unknown = client.post("/accounts/login/", {"email": "nobody@example.com", "password": PASSWORD})
    wrong = client.post("/accounts/login/", {"email": user.email, "password": "wrong password here"})
    assert unknown.status_code == wrong.status_code == 400
    message = "do not match an account"
    assert message in unknown.content.decode() and message in wrong.content.decode()

    # Apart from the echoed address and the per-response CSRF mask, the pages are identical.
    def shape(response, email):
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode()).replace(email, "X")

    assert shape(unknown, "nobody@example.com") == shape(wrong, user.email)


def test_inactive_account_gets_the_same_generic_answer(client, make_user):
    user = make_user(is_active=False)
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "do not match an account" in response.content.decode()


@pytest.mark.django_db(transaction=True)  # commits, so the deferred foreign-key check runs too
@pytest.mark.usefixtures("production_argon2")
def test_unknown_email_costs_a_hash_too(client, user, generous_limits):
    def sign_in(email, i=0):
        return client.post("/accounts/login/", {"email": email, "password": "wrong password here"})

    emails = (user.email, "nobody@example.com")
    known_sql, unknown_sql = (statements(lambda: sign_in(email)) for email in emails)  # noqa: B023 (called at once)
    assert known_sql == unknown_sql, "the same statements either way"
    known, unknown = interleaved_medians(sign_in, emails)
    one_hash = median_hash_time(lambda: user.check_password("x"))
    assert abs(known - unknown) < 0.5 * one_hash, (known, unknown, one_hash)


def test_email_is_matched_regardless_of_case(client, user):
    response = client.post("/accounts/login/", {"email": "  ADA@Example.com", "password": PASSWORD})
    assert response.status_code == 302


def test_session_key_is_rotated_at_signin(client, user):
    # A session key planted before sign-in (fixation) must not survive it.
    session = client.session
    session["probe"] = 1
    session.save()
    before = session.session_key
    assert client.cookies["__Host-session"].value == before
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    after = client.cookies["__Host-session"].value if "__Host-session" in client.cookies else None
    assert after and after != before
    assert not connection().exists(data_key(before))


def test_session_lives_in_redis_under_a_hash_of_its_key(signed_in_client):
    key = signed_in_client.cookies["__Host-session"].value
    redis = connection()
    assert redis.exists(data_key(key))
    assert not redis.exists(SESSION_PREFIX + key)
    assert not any(key.encode() in k for k in redis.keys("*"))


def test_session_cookie_is_host_prefixed_secure_httponly_and_lax(client, user):
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    cookie = response.cookies["__Host-session"]
    assert cookie["secure"] and cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/" and not cookie["domain"]


def test_idle_timeout_is_the_session_ttl_and_each_request_renews_it(signed_in_client, settings):
    key = data_key(signed_in_client.cookies["__Host-session"].value)
    redis = connection()
    assert 0 < redis.ttl(key) <= settings.SESSION_IDLE_TIMEOUT
    redis.expire(key, 5)
    signed_in_client.get("/accounts/")
    assert redis.ttl(key) > 5


def test_session_ends_when_idle_longer_than_the_timeout(signed_in_client):
    key = data_key(signed_in_client.cookies["__Host-session"].value)
    connection().delete(key)  # what Redis does when the idle TTL runs out
    response = signed_in_client.get("/accounts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_session_ends_after_its_absolute_lifetime_however_active(signed_in_client, settings, monkeypatch):
    import time as time_module

    assert signed_in_client.get("/accounts/").status_code == 200
    real_time = time_module.time
    monkeypatch.setattr(time_module, "time", lambda: real_time() + settings.SESSION_ABSOLUTE_LIFETIME + 1)
    response = signed_in_client.get("/accounts/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    monkeypatch.undo()
    assert signed_in_client.get("/accounts/").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http://testserver@evil.example/",
        "https:evil.example",
        "/\t/evil.example",
        " //evil.example",
        "///evil.example",
        "http://testserver/accounts/",
    ],
)
def test_next_pointing_off_site_lands_on_the_account_page(client, user, target):
    response = client.post(
        f"/accounts/login/?next={target}", {"email": user.email, "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/"


def test_next_path_on_this_site_is_honoured(client, user):
    response = client.post(
        "/accounts/login/", {"email": user.email, "password": PASSWORD, "next": "/accounts/password/change/"}
    )
    assert response["Location"] == "/accounts/password/change/"


def test_signin_page_uses_password_manager_hints(client):
    body = client.get("/accounts/login/").content.decode()
    assert 'autocomplete="username webauthn"' in body
    assert 'autocomplete="current-password"' in body


def test_signout_is_post_only(signed_in_client):
    assert signed_in_client.get("/accounts/logout/").status_code == 405
    assert signed_in_client.get("/accounts/").status_code == 200


def test_signout_needs_a_csrf_token(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    page = browser.get("/accounts/login/")
    token = page.context["csrf_token"]
    browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert browser.get("/accounts/").status_code == 200
    forged = browser.post("/accounts/logout/")
    assert forged.status_code == 403
    assert browser.get("/accounts/").status_code == 200


def test_signout_deletes_the_session_from_redis(signed_in_client):
    key = data_key(signed_in_client.cookies["__Host-session"].value)
    assert connection().exists(key)
    response = signed_in_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert not connection().exists(key)
    assert signed_in_client.get("/accounts/").status_code == 302


def test_login_page_sends_signed_in_people_home(signed_in_client):
    assert signed_in_client.get("/accounts/login/")["Location"] == "/accounts/"
