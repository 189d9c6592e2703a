"""Single Logout: an SP ends the session here (HTTP-Redirect, HTTP-POST), and sessions ended here are
told to the SPs that take logout requests over SOAP (by a real Celery worker, to a real pysaml2 SP)."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from saml.models import SignOn
from tests.saml.pages import local, posted, sign_on
from tests.saml.service_provider import POST, REDIRECT, ServiceProvider
from tests.users import PASSWORD


def signed_on(client, sp):
    request_id, page = sign_on(client, sp)
    return sp.parse_response(posted(page)["SAMLResponse"], request_id)


def test_sp_initiated_logout_over_redirect_ends_the_session_here(sp, signed_in_client):
    result = signed_on(signed_in_client, sp)
    request_id, url, _ = sp.logout_request(result.name_id, result.session_index, REDIRECT)
    response = signed_in_client.get(local(url))
    assert response.status_code == 302 and response["Location"].startswith(sp.slo_url)
    answer = dict(parse_qsl(urlsplit(response["Location"]).query))
    assert sp.parse_logout_response(answer, REDIRECT, request_id).in_response_to == request_id
    assert signed_in_client.get("/accounts/").status_code == 302  # signed out here
    assert SignOn.objects.get().ended_at is not None


def test_sp_initiated_logout_over_post(sp, signed_in_client):
    result = signed_on(signed_in_client, sp)
    request_id, action, fields = sp.logout_request(result.name_id, result.session_index, POST)
    page = signed_in_client.post(urlsplit(action).path, fields)
    assert page.status_code == 200
    assert sp.parse_logout_response(posted(page), POST, request_id).in_response_to == request_id
    assert signed_in_client.get("/accounts/").status_code == 302


def test_a_logout_request_for_someone_elses_session_does_not_sign_this_browser_out(sp, signed_in_client, make_user):
    other = make_user("bob@example.com")
    bob = Client()
    bob.post("/accounts/login/", {"email": other.email, "password": PASSWORD})
    bobs = signed_on(bob, sp)
    signed_on(signed_in_client, sp)
    _id, url, _ = sp.logout_request(bobs.name_id, bobs.session_index, REDIRECT)
    assert signed_in_client.get(local(url)).status_code == 302
    assert signed_in_client.get("/accounts/").status_code == 200  # Ada is still signed in
    assert bob.get("/accounts/").status_code == 200  # and Bob's session here is not ended from Ada's browser


@pytest.fixture
def soap_sp(transactional_db, idp_metadata):
    from saml.registration import register

    with ServiceProvider.serve(idp_metadata=idp_metadata, soap_slo=True) as sp:
        register("Tickets", sp.metadata_xml())
        yield sp


def soap_messages(sp, timeout: float = 15.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [item for item in sp.received if item.path.startswith("/slo/soap")]
        if got and all(item.result is not None or item.error is not None for item in got):  # read, not only come
            return got
        time.sleep(0.1)
    return []


def test_signing_out_here_sends_a_soap_logout_request_to_the_sp(soap_sp, celery_worker, user):
    browser = Client()
    browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    result = signed_on(browser, soap_sp)
    browser.post("/accounts/logout/")
    [message] = soap_messages(soap_sp)
    assert message.error is None
    assert message.result.name_id == result.name_id and message.result.session_indexes == [result.session_index]
    deadline = time.monotonic() + 10
    while SignOn.objects.filter(logout_pending=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not SignOn.objects.filter(logout_pending=True).exists()  # the SP answered Success


def test_a_password_change_ends_sign_ons_of_other_sessions(soap_sp, celery_worker, user):
    elsewhere, here = Client(), Client()
    for browser in (elsewhere, here):
        browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    other = signed_on(elsewhere, soap_sp)
    signed_on(here, soap_sp)
    from accounts.flows.signin import end_all_access

    class Request:  # the person's own request, whose session stays
        pass

    request = Request()
    request.user = user  # type: ignore[attr-defined]
    request.session = here.session  # type: ignore[attr-defined]
    end_all_access(user, keep_request=request)
    [message] = soap_messages(soap_sp)
    assert message.error is None, message.error
    assert message.result.session_indexes == [other.session_index]


def test_sign_ons_are_forgotten_after_their_retention(sp, signed_in_client):
    from datetime import timedelta

    from django.utils import timezone

    from saml.app_settings import app_settings
    from saml.tasks import forget_old_sign_ons

    signed_on(signed_in_client, sp)
    signed_on(signed_in_client, sp)
    SignOn.objects.filter(pk=SignOn.objects.earliest("pk").pk).update(
        signed_on_at=timezone.now() - timedelta(seconds=app_settings.SAML_SIGN_ON_RETENTION + 1)
    )
    assert forget_old_sign_ons() == 1 and SignOn.objects.count() == 1


def test_undelivered_logouts_are_swept_then_given_up(sp, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import User
    from saml import tasks

    handed = []
    monkeypatch.setattr(tasks, "enqueue", lambda pk: handed.append(pk) or True)
    sign_on = SignOn.objects.create(
        service_provider=sp.registered,
        user=User.objects.create_user("bob@example.com"),
        session_ref="r",
        name_id="n",
        name_id_format="f",
        logout_pending=True,
        ended_at=timezone.now() - timedelta(hours=2),
    )
    assert tasks.sweep_pending_logouts() == 1 and handed == [sign_on.pk]
    SignOn.objects.filter(pk=sign_on.pk).update(ended_at=timezone.now() - timedelta(days=2))
    assert tasks.sweep_pending_logouts() == 0
    assert not SignOn.objects.get(pk=sign_on.pk).logout_pending
