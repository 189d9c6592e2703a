"""Attacks found in review: each test tries one and expects it to fail."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import SecurityEvent, User
from identity.redis import connection
from tests.accounts.test_admin import NO_PASSKEY_CHANGES
from tests.users import PASSWORD, add_totp, sign_in_admin

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_editor(make_user):
    """A staff member allowed to change users, but not a superuser."""
    editor = make_user("editor@example.com", is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=["change_user", "view_user"]))
    add_totp(editor)
    return editor


def test_staff_cannot_make_themselves_superuser(staff_editor):
    browser = sign_in_admin(staff_editor)
    page = browser.get(f"/admin/accounts/user/{staff_editor.pk}/change/")
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.content.decode()
    browser.post(
        f"/admin/accounts/user/{staff_editor.pk}/change/",
        {
            "email": staff_editor.email,
            "is_active": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            **NO_PASSKEY_CHANGES,
        },
    )
    staff_editor.refresh_from_db()
    assert not staff_editor.is_superuser


def test_staff_cannot_set_someone_elses_password(staff_editor, make_user):
    victim = make_user("victim@example.com", is_superuser=True, is_staff=True)
    browser = sign_in_admin(staff_editor)
    url = f"/admin/accounts/user/{victim.pk}/password/"
    assert browser.get(url).status_code == 403
    browser.post(url, {"password1": "taken over 12345", "password2": "taken over 12345"})
    victim.refresh_from_db()
    assert victim.check_password(PASSWORD)


def test_superuser_password_reset_in_admin_is_audited_and_ends_sessions(make_admin, user):
    victim_browser = Client(raise_request_exception=False)
    victim_browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    admin = make_admin()
    browser = sign_in_admin(admin)
    response = browser.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "set by an admin 123", "password2": "set by an admin 123", "usable_password": "true"},
    )
    assert response.status_code == 302
    assert SecurityEvent.objects.filter(user=user, kind="password_changed", actor=admin).exists()
    assert victim_browser.get("/accounts/").status_code == 302


def test_junk_links_create_no_session(client):
    before = len(connection().keys("session:*"))
    for i in range(5):
        assert client.get(f"/accounts/verify/junk{i}/").status_code == 400
        assert client.get(f"/accounts/email/confirm/junk{i}/").status_code == 400
    assert len(connection().keys("session:*")) == before


def test_a_signed_in_session_that_does_not_know_when_it_began_is_expired(signed_in_client):
    from accounts.signin_state import SIGNED_IN_AT

    session = signed_in_client.session
    del session[SIGNED_IN_AT]
    session.save()
    assert signed_in_client.get("/accounts/").status_code == 302


def test_an_address_that_grows_under_normalisation_gets_a_400_not_a_500(client):
    response = client.post("/accounts/signup/", {"email": "a@x" + "\ufdfa" * 20 + ".com", "password": PASSWORD})
    assert response.status_code == 400
    assert not User.objects.exists()


def test_a_refused_password_change_attempt_is_audited_once(signed_in_client, user, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password-change-session": "1/15m"}
    data = {"old_password": "not it at all", "new_password1": "n3w passphrase!", "new_password2": "n3w passphrase!"}
    signed_in_client.post("/accounts/password/change/", data)
    assert signed_in_client.post("/accounts/password/change/", data).status_code == 429
    assert SecurityEvent.objects.filter(kind__in=["signin_throttled", "throttled"]).count() == 1


def test_a_wrong_current_password_shows_in_the_history_as_a_refused_password_change(signed_in_client, user):
    data = {"old_password": "not it at all", "new_password1": "n3w passphrase!", "new_password2": "n3w passphrase!"}
    assert signed_in_client.post("/accounts/password/change/", data).status_code == 400
    assert SecurityEvent.objects.filter(kind="signin_failed", user=user, reason="password_change").count() == 1
    page = signed_in_client.get("/accounts/security/").content.decode()
    history = page[page.index('id="history-heading"') : page.index('id="account-heading"')]
    assert "Password change refused: wrong current password" in history and "Sign-in failed" not in history


def test_production_refuses_to_start_without_site_url():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SITE_URL"))}
    env.update(DJANGO_SECRET_KEY="x" * 50, DJANGO_SETTINGS_MODULE="identity.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "SITE_URL" in result.stderr


def test_the_password_change_page_uses_the_security_pages_wording(signed_in_client):
    page = signed_in_client.get("/accounts/password/change/").content.decode()
    assert "Current password" in page and "Confirm the new password" in page and "Old password" not in page
    german = signed_in_client.get("/accounts/password/change/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Aktuelles Passwort" in german and "Neues Passwort bestätigen" in german
