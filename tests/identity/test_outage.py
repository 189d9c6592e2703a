"""A backing service going away gives the friendly 503 page: never a 500, never a silent sign-out."""

import pytest
from django.db import OperationalError
from django.test import Client

from tests.users import PASSWORD

pytestmark = pytest.mark.django_db


def test_redis_down_answers_503_and_recovers_without_a_restart(own_redis, user):
    browser = Client(raise_request_exception=False)
    assert browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    assert browser.get("/accounts/").status_code == 200

    own_redis.stop()
    page = browser.get("/accounts/")
    assert page.status_code == 503, "a signed-in person must not be treated as signed out"
    assert "Temporarily unavailable" in page.content.decode()
    assert page["Retry-After"]
    assert browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 503
    assert browser.post("/accounts/logout/").status_code == 503

    own_redis.start()  # an empty Redis: the old session is gone, the site works again
    assert browser.get("/accounts/").status_code == 302
    assert browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    assert browser.get("/accounts/").status_code == 200


def test_actions_that_need_redis_answer_503(own_redis):
    browser = Client(raise_request_exception=False)
    browser.post("/accounts/verify/resend/", {"email": "someone@example.com"})
    own_redis.stop()
    response = browser.post("/accounts/verify/resend/", {"email": "someone@example.com"})
    assert response.status_code == 503


def test_database_errors_answer_503(client, monkeypatch):
    from accounts.views import password as views

    def broken(*args, **kwargs):
        raise OperationalError("connection to server was lost")

    monkeypatch.setattr(views, "request_password_reset", broken)
    response = client.post("/accounts/password/reset/", {"email": "a@example.com"})
    assert response.status_code == 503


def test_other_errors_answer_a_plain_500_page(client, monkeypatch):
    from accounts.views import password as views

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(views, "request_password_reset", broken)
    response = client.post("/accounts/password/reset/", {"email": "a@example.com"})
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_unknown_pages_get_a_friendly_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_csrf_failure_gets_a_friendly_403():
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    response = browser.post("/accounts/login/", {"email": "a@example.com", "password": "x"})
    assert response.status_code == 403
    assert "Form expired" in response.content.decode()
