"""A helpdesk account (staff, with only view_user and change_user) must not be able to take over an
administrator: the review changed a superuser's address, reset their MFA, mailed a reset link to the
new address and signed in as them. Each test plays that helpdesk against the real admin (Django's test
client, PostgreSQL, Redis); superusers can still act on everyone.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.flows.lifecycle import signin_throttle_state
from accounts.models import SecurityEvent, User
from accounts.sessions import user_sessions
from mfa.models import Passkey
from tests.accounts.test_admin import change_form, factor_removal, signed_in
from tests.mfa.test_passkey_offer_and_admin import stored_passkey
from tests.users import add_totp, sign_in_admin

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
SKIPPED = "2 staff or superuser accounts were skipped: only a superuser can act on them."
READ_ONLY = "Only a superuser can change a staff or superuser account."
ATTACKER = "helpdesk-owns-this@evil.example"


def grant(user: User, *codenames: str) -> User:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # a fresh instance: no cached permissions


@pytest.fixture
def helpdesk(make_user) -> Client:
    """A staff member allowed to view and change users, with a second factor so the admin lets them in."""
    staff = grant(make_user("helpdesk@example.com", is_staff=True), "view_user", "change_user")
    add_totp(staff)
    browser = sign_in_admin(staff)
    browser.account = staff  # type: ignore[attr-defined]  # a note for the test
    return browser


@pytest.fixture
def root(make_admin) -> User:
    return make_admin()


@pytest.fixture
def colleague(make_user) -> User:
    """Another staff account (no superuser), with an authenticator app."""
    staff = make_user("colleague@example.com", is_staff=True)
    add_totp(staff)
    return staff


def run_action(browser: Client, action: str, users: list[User]) -> str:
    response = browser.post("/admin/accounts/user/", {"action": action, "_selected_action": [u.pk for u in users]})
    assert response.status_code == 302, response.content.decode()[:2000]
    return browser.get(response["Location"]).content.decode()


# --- the change page ------------------------------------------------------------------------------


def test_helpdesk_sees_a_superusers_page_read_only(helpdesk, root):
    page = helpdesk.get(f"/admin/accounts/user/{root.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert READ_ONLY in html
    assert 'name="email"' not in html and 'name="_save"' not in html
    assert "passkeys-0-DELETE" not in html


def test_helpdesk_cannot_change_a_superusers_email(helpdesk, root, deliver_outbox):
    response = helpdesk.post(f"/admin/accounts/user/{root.pk}/change/", change_form(root, email=ATTACKER))
    assert response.status_code == 403 and READ_ONLY in response.content.decode()
    root.refresh_from_db()
    assert root.email == "root@example.com"
    assert not SecurityEvent.objects.filter(kind=Event.EMAIL_CHANGED).exists()
    assert deliver_outbox() == []


def test_helpdesk_cannot_change_another_staff_account_or_its_own(helpdesk, colleague):
    for staff in (colleague, helpdesk.account):
        response = helpdesk.post(f"/admin/accounts/user/{staff.pk}/change/", change_form(staff, email=ATTACKER))
        assert response.status_code == 403
        staff.refresh_from_db()
        assert staff.email != ATTACKER


def test_helpdesk_cannot_set_a_superusers_password(helpdesk, root):
    before = User.objects.get(pk=root.pk).password
    refused = helpdesk.get(f"/admin/accounts/user/{root.pk}/password/")
    assert (
        refused.status_code == 403
        and "Only a superuser can set or turn off a password in the admin." in refused.content.decode()
    )
    new = "helpdesk chose this password"
    response = helpdesk.post(
        f"/admin/accounts/user/{root.pk}/password/", {"password1": new, "password2": new, "usable_password": "true"}
    )
    assert response.status_code == 403
    assert User.objects.get(pk=root.pk).password == before


def test_helpdesk_cannot_remove_a_superusers_passkey(helpdesk, root):
    passkey = stored_passkey(root)
    response = helpdesk.post(f"/admin/accounts/user/{root.pk}/change/", factor_removal(root, passkey))
    assert response.status_code == 403
    assert Passkey.objects.filter(pk=passkey.pk).exists()
    assert not SecurityEvent.objects.filter(kind=Event.MFA_REMOVED).exists()


def test_helpdesk_still_manages_ordinary_accounts(helpdesk, user):
    response = helpdesk.post(f"/admin/accounts/user/{user.pk}/change/", change_form(user, display_name="Ada L."))
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.display_name == "Ada L."
    assert READ_ONLY not in helpdesk.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()


def test_a_superuser_can_change_a_staff_account(root, colleague):
    admin = sign_in_admin(root)
    response = admin.post(
        f"/admin/accounts/user/{colleague.pk}/change/", change_form(colleague, email="colleague@new.example")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    colleague.refresh_from_db()
    assert colleague.email == "colleague@new.example" and colleague.is_staff


# --- the list actions -----------------------------------------------------------------------------


def test_deactivate_skips_privileged_accounts_and_says_so(helpdesk, root, colleague, user):
    page = run_action(helpdesk, "deactivate", [root, colleague, user])
    assert SKIPPED in page and "1 user deactivated." in page
    assert User.objects.get(pk=root.pk).is_active and User.objects.get(pk=colleague.pk).is_active
    assert not User.objects.get(pk=user.pk).is_active


def test_reactivate_skips_privileged_accounts(helpdesk, root, colleague, user):
    User.objects.filter(pk__in=[root.pk, colleague.pk, user.pk]).update(is_active=False)
    page = run_action(helpdesk, "reactivate", [root, colleague, user])
    assert SKIPPED in page and "1 user reactivated." in page
    assert not User.objects.get(pk=root.pk).is_active and not User.objects.get(pk=colleague.pk).is_active
    assert User.objects.get(pk=user.pk).is_active


def test_reset_mail_is_not_sent_to_privileged_accounts(helpdesk, root, colleague, user, deliver_outbox):
    page = run_action(helpdesk, "send_password_reset", [root, colleague, user])
    assert SKIPPED in page and "Reset mail queued for 1 user." in page
    assert [mail.to for mail in deliver_outbox()] == [[user.email]]


def test_sessions_of_privileged_accounts_are_not_ended(helpdesk, root, colleague, user):
    root_browser = sign_in_admin(root)
    sign_in_admin(colleague)
    signed_in(user)
    page = run_action(helpdesk, "end_sessions", [root, colleague, user])
    assert SKIPPED in page and "Sessions ended for 1 user." in page
    assert user_sessions(root.pk) and user_sessions(colleague.pk)
    assert user_sessions(user.pk) == {}
    assert root_browser.get("/admin/").status_code == 200


def test_throttling_of_privileged_accounts_is_not_cleared(helpdesk, root, colleague, user):
    guesser = Client(raise_request_exception=False)
    for account in (root, colleague, user):
        guesser.post("/accounts/login/", {"email": account.email, "password": "wrong guess"})
    page = run_action(helpdesk, "clear_throttling", [root, colleague, user])
    assert SKIPPED in page and "Throttling cleared for 1 user." in page
    assert signin_throttle_state(root)["failures"] == 1 and signin_throttle_state(colleague)["failures"] == 1
    assert signin_throttle_state(user)["failures"] == 0


def test_mfa_of_privileged_accounts_is_not_reset(helpdesk, root, colleague, user):
    add_totp(user)
    page = run_action(helpdesk, "reset_mfa", [root, colleague, user])
    assert SKIPPED in page and "Two-step verification reset for 1 user." in page
    assert TOTPDevice.objects.filter(user=root).exists() and TOTPDevice.objects.filter(user=colleague).exists()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not SecurityEvent.objects.filter(kind=Event.ADMIN_MFA_RESET).exclude(user=user).exists()


def test_helpdesk_with_delete_permission_cannot_delete_a_superuser(helpdesk, root, user):
    grant(helpdesk.account, "delete_user")
    TOTPDevice.objects.filter(user=root).delete()  # nothing else the helpdesk would need permission for
    refused = helpdesk.post(f"/admin/accounts/user/{root.pk}/delete/", {"post": "yes"})
    assert refused.status_code == 403 and READ_ONLY in refused.content.decode()
    confirm = helpdesk.post(
        "/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [root.pk, user.pk]}
    )
    assert confirm.status_code == 200 and "1 staff or superuser account was skipped" in confirm.content.decode()
    helpdesk.post(
        "/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [root.pk, user.pk], "post": "yes"}
    )
    assert User.objects.filter(pk=root.pk).exists() and not User.objects.filter(pk=user.pk).exists()


@pytest.mark.parametrize(
    "action", ["deactivate", "reactivate", "send_password_reset", "end_sessions", "clear_throttling", "reset_mfa"]
)
def test_superusers_can_act_on_staff_accounts(root, colleague, action):
    admin = sign_in_admin(root)
    page = run_action(admin, action, [colleague])
    assert "skipped" not in page
    assert "1 user" in page or action == "reactivate"  # the colleague is active: nothing to reactivate


def test_a_superuser_can_delete_a_staff_account(root, colleague):
    admin = sign_in_admin(root)
    confirm = admin.post("/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [colleague.pk]})
    assert confirm.status_code == 200 and "skipped" not in confirm.content.decode()
    admin.post(
        "/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [colleague.pk], "post": "yes"}
    )
    assert not User.objects.filter(pk=colleague.pk).exists()


# --- "This wasn't me" records (CredentialEvent) -------------------------------------------------------


def test_helpdesk_reads_credential_events_but_never_their_link_and_cannot_edit_them(make_user, user, deliver_outbox):
    """A credential event's mailed link undoes it, with no sign-in: the admin shows who, what, when,
    whether it was undone and the session, never the link's token, and nobody edits or deletes one."""
    from accounts.models import CredentialEvent
    from tests.accounts.test_not_me import NOT_ME_LINK, browser, link_in, mail_with, sign_in

    sign_in(browser("Owner laptop", "198.51.100.7"))  # the account's first browser, silently
    sign_in(browser())  # a new one: mailed, with a "This wasn't me" link
    token = link_in(mail_with(deliver_outbox(), "New sign-in to your account"), NOT_ME_LINK).split("/")[-2]
    [event] = CredentialEvent.objects.filter(user=user)

    every_permission = [f"{verb}_credentialevent" for verb in ("view", "change", "delete", "add")]
    staff = grant(make_user("helpdesk@example.com", is_staff=True), *every_permission)
    add_totp(staff)
    admin_browser = sign_in_admin(staff)
    listed = admin_browser.get("/admin/accounts/credentialevent/")
    shown = admin_browser.get(f"/admin/accounts/credentialevent/{event.pk}/change/")
    assert listed.status_code == 200 and shown.status_code == 200
    for page in (listed.content.decode(), shown.content.decode()):
        assert user.email in page and "Sign-in from a new device" in page and event.session_ref in page
        assert token not in page and "/accounts/not-me/" not in page
    assert 'name="_save"' not in shown.content.decode()

    edited = admin_browser.post(f"/admin/accounts/credentialevent/{event.pk}/change/", {"used_at_0": "2026-01-01"})
    assert edited.status_code == 403
    assert admin_browser.post(f"/admin/accounts/credentialevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_browser.get("/admin/accounts/credentialevent/add/").status_code == 403
    event.refresh_from_db()
    assert event.used_at is None
