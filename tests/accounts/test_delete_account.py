"""Deleting one's own account (issue 19, self-service): what goes, what stays, and what an attacker
with a stolen session cookie (no re-authentication) or a forged form can't do."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, SecurityEvent, User
from accounts.sessions import user_sessions
from oidc.models import TokenFamily
from tests.oidc.relying_party import RelyingParty, register
from tests.users import PASSWORD, add_totp, pass_mfa

URL = "/accounts/delete/"
Event = SecurityEvent.Kind


def signed_in(user, **extra) -> Client:
    browser = Client(raise_request_exception=False, **extra)
    assert browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    if user.totpdevice_set.exists():
        assert pass_mfa(browser, user).status_code == 302
    return browser


def test_the_page_says_what_will_happen_and_is_linked_from_security(user):
    browser = signed_in(user)
    assert URL in browser.get("/accounts/security/").content.decode()
    page = browser.get(URL).content.decode()
    assert "be undone" in page and "tell the apps you signed in to" in page
    assert 'name="email"' in page and 'method="post"' in page


def test_deleting_removes_the_account_keeps_the_audit_trail_and_mails_the_address(user, deliver_outbox):
    browser = signed_in(user)
    subject, email, pk = str(user.subject), user.email, user.pk
    response = browser.post(URL, {"email": email.upper()})
    assert response.status_code == 302 and response["Location"] == "/accounts/deleted/"
    assert not User.objects.filter(pk=pk).exists()
    trail = SecurityEvent.objects.filter(former_account=f"{email} ({subject})")
    assert trail.filter(kind=Event.SIGNIN_SUCCEEDED).exists()  # the audit trail survives the row
    assert trail.filter(kind=Event.ACCOUNT_DELETED, actor=None).count() == 1
    [mail] = [m for m in deliver_outbox() if "deleted" in m.subject]
    assert mail.to == [email] and "Your account was just deleted" in mail.body
    assert OutboxMail.objects.get(kind=OutboxMail.Kind.ACCOUNT_DELETED).sent_at is not None
    assert "Your account was deleted" in browser.get("/accounts/deleted/").content.decode()


def test_the_mail_speaks_the_persons_language(user, deliver_outbox):
    user.language = "de"
    user.save()
    signed_in(user).post(URL, {"email": user.email})
    [mail] = deliver_outbox()
    assert mail.subject.endswith("Ihr Konto wurde gelöscht")


def test_every_session_ends_and_the_old_cookie_is_dead(user):
    laptop, phone = signed_in(user), signed_in(user)
    pk = user.pk
    laptop.post(URL, {"email": user.email})
    assert user_sessions(pk) == {}
    for browser in (laptop, phone):
        response = browser.get("/accounts/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_apps_refresh_and_access_tokens_stop_working(user):
    browser = signed_in(user)
    rp = RelyingParty(*register("Notes"))
    tokens = rp.sign_in_and_redeem(browser)
    browser.post(URL, {"email": user.email})
    assert rp.refresh(tokens["refresh_token"]).status_code == 400
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    assert not TokenFamily.objects.exists()


def test_a_wrong_address_deletes_nothing(user):
    browser = signed_in(user)
    response = browser.post(URL, {"email": "someone@example.com"})
    assert response.status_code == 400
    assert "not this account&#x27;s email address" in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()
    assert browser.post(URL, {}).status_code == 400
    assert User.objects.filter(pk=user.pk).exists()


def test_a_stolen_cookie_without_reauthentication_cannot_delete(user, clock):
    browser = signed_in(user)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)
    response = browser.post(URL, {"email": user.email})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")
    assert browser.get(URL)["Location"].startswith("/accounts/reauthenticate/?next=%2Faccounts%2Fdelete%2F")
    assert User.objects.filter(pk=user.pk).exists()
    assert browser.post("/accounts/reauthenticate/", {"password": "wrong", "next": URL}).status_code == 400
    assert browser.post(URL, {"email": user.email}).status_code == 302
    assert User.objects.filter(pk=user.pk).exists()


def test_reauthenticating_then_deleting_works(user, clock):
    browser = signed_in(user)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)
    back = browser.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": URL})
    assert back.status_code == 302 and back["Location"] == URL
    assert browser.post(URL, {"email": user.email})["Location"] == "/accounts/deleted/"
    assert not User.objects.filter(pk=user.pk).exists()


def test_a_forged_form_without_the_csrf_token_is_refused(user):
    browser = signed_in(user)
    strict = Client(enforce_csrf_checks=True, raise_request_exception=False)
    strict.cookies = browser.cookies
    assert strict.post(URL, {"email": user.email}).status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_a_get_deletes_nothing(user):
    browser = signed_in(user)
    assert browser.get(URL, {"email": user.email}).status_code == 200
    assert User.objects.filter(pk=user.pk).exists()


@pytest.mark.parametrize("fields", [{"is_staff": True}, {"is_staff": True, "is_superuser": True}])
def test_administrators_cannot_delete_themselves(make_user, fields):
    admin = make_user("root@example.com", **fields)
    add_totp(admin)
    browser = signed_in(admin)
    page = browser.get(URL)
    assert page.status_code == 403 and "Ask another administrator" in page.content.decode()
    assert browser.post(URL, {"email": admin.email}).status_code == 403
    assert User.objects.filter(pk=admin.pk).exists()
