"""Removing authenticators (by their owner) and resetting two-step verification (by an admin)."""

from __future__ import annotations

import threading

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from accounts.sessions import user_sessions
from mfa import recovery
from mfa.models import RecoveryCode
from tests.concurrency import run_in_parallel
from tests.users import add_totp, sign_in_admin, totp_code

from .pages import (
    device_of,
    is_signed_in,
    page_after,
    password_step,
    sign_in_with_mfa,
    start_pending,
    submit_code,
)

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
MFA_MAIL = "Identity: Two-step verification changed"


def remove_path(device) -> str:
    return f"/accounts/security/totp/{device.pk}/remove/"


def mfa_mails(deliver_outbox) -> list:
    return [m for m in deliver_outbox() if m.subject == MFA_MAIL]


@pytest.fixture
def ada_signed_in(ada, browser) -> Client:
    """Ada, with her phone and ten recovery codes, signed in with both factors."""
    recovery.generate(ada)
    return sign_in_with_mfa(browser(), ada)


# --- removal by the owner ---------------------------------------------------------------------------


def test_removal_needs_recent_authentication(ada, ada_signed_in, clock, settings):
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    response = ada_signed_in.post(remove_path(device_of(ada)))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2F"
    assert TOTPDevice.objects.filter(user=ada).count() == 1
    assert not SecurityEvent.objects.filter(kind=Event.MFA_REMOVED).exists()


def test_removal_needs_sign_in_and_a_post(ada, client, ada_signed_in):
    device = device_of(ada)
    assert client.post(remove_path(device))["Location"].startswith("/accounts/login/")
    assert ada_signed_in.get(remove_path(device)).status_code == 200  # the confirmation page only
    assert TOTPDevice.objects.filter(user=ada).count() == 1


def test_removing_one_of_two_keeps_the_rest(ada, ada_signed_in, deliver_outbox):
    tablet = add_totp(ada, "Tablet")
    deliver_outbox().clear()
    response = ada_signed_in.post(remove_path(tablet))
    assert response["Location"] == "/accounts/security/"
    assert "The authenticator app was removed." in page_after(ada_signed_in, response)
    assert list(TOTPDevice.objects.filter(user=ada).values_list("name", flat=True)) == ["Phone"]
    assert RecoveryCode.objects.filter(user=ada).count() == 10
    [mail] = mfa_mails(deliver_outbox)
    assert mail.to == [ada.email] and "An authenticator app was removed" in mail.body
    [removed] = SecurityEvent.objects.filter(kind=Event.MFA_REMOVED)
    assert removed.user == ada


def test_removing_the_last_device_turns_mfa_off_and_discards_recovery_codes(
    ada, ada_signed_in, browser, deliver_outbox
):
    deliver_outbox().clear()
    response = ada_signed_in.post(remove_path(device_of(ada)))
    assert response["Location"] == "/accounts/security/"
    assert not TOTPDevice.objects.filter(user=ada).exists()
    assert not RecoveryCode.objects.filter(user=ada).exists()
    assert len(mfa_mails(deliver_outbox)) == 1
    assert is_signed_in(ada_signed_in)

    c = browser()
    assert password_step(c, ada.email)["Location"] == "/accounts/", "password-only again"
    assert is_signed_in(c)


def test_a_device_of_another_user_cannot_be_removed(ada, ada_signed_in, make_user, deliver_outbox):
    bob = make_user("bob@example.com")
    bobs_phone = add_totp(bob)
    deliver_outbox().clear()
    response = ada_signed_in.post(remove_path(bobs_phone))
    assert response["Location"] == "/accounts/security/"
    assert "That authenticator was already removed." in page_after(ada_signed_in, response)
    assert TOTPDevice.objects.filter(pk=bobs_phone.pk).exists()
    assert TOTPDevice.objects.filter(user=ada).count() == 1
    assert not SecurityEvent.objects.filter(kind=Event.MFA_REMOVED).exists()
    assert mfa_mails(deliver_outbox) == []


def test_removing_an_already_removed_device_says_so(ada, ada_signed_in):
    tablet = add_totp(ada, "Tablet")
    ada_signed_in.post(remove_path(tablet))
    response = ada_signed_in.post(remove_path(tablet))
    assert "That authenticator was already removed." in page_after(ada_signed_in, response)
    assert TOTPDevice.objects.filter(user=ada).count() == 1


@pytest.mark.parametrize("how", ["user", "all", "staff"])
def test_the_last_device_of_someone_who_must_use_mfa_cannot_be_removed(ada, browser, settings, how):
    if how == "user":
        type(ada).objects.filter(pk=ada.pk).update(mfa_required=True)
    elif how == "all":
        settings.MFA_REQUIRED = "all"
    else:
        type(ada).objects.filter(pk=ada.pk).update(is_staff=True)
    recovery.generate(ada)
    c = sign_in_with_mfa(browser(), ada)
    response = c.post(remove_path(device_of(ada)))
    assert response["Location"] == "/accounts/security/"
    assert "must use two-step verification, so its last authenticator cannot be removed" in page_after(c, response)
    assert TOTPDevice.objects.filter(user=ada).count() == 1
    assert RecoveryCode.objects.filter(user=ada).count() == 10
    assert not SecurityEvent.objects.filter(kind=Event.MFA_REMOVED).exists()

    # With a second one, either can go, but not both.
    tablet = add_totp(ada, "Tablet")
    assert c.post(remove_path(tablet))["Location"] == "/accounts/security/"
    assert TOTPDevice.objects.filter(user=ada).count() == 1
    c.post(remove_path(device_of(ada)))
    assert TOTPDevice.objects.filter(user=ada).count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_removals_cannot_remove_the_last_required_device(make_user, monkeypatch):
    ada = make_user(mfa_required=True)
    phone, tablet = add_totp(ada, "Phone"), add_totp(ada, "Tablet")
    first = sign_in_with_mfa(Client(raise_request_exception=False), ada, device=phone)
    second = sign_in_with_mfa(Client(raise_request_exception=False), ada, device=tablet)

    # Hold each removal just before its DELETE until both got there (or 3 s passed, if one is blocked
    # behind a lock, as it should be): the race window, made certain.
    barrier = threading.Barrier(2)
    original_delete = TOTPDevice.delete

    def delete_when_both_checked(self, *args, **kwargs):
        try:
            barrier.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass
        return original_delete(self, *args, **kwargs)

    monkeypatch.setattr(TOTPDevice, "delete", delete_when_both_checked)
    run_in_parallel([lambda: first.post(remove_path(phone)), lambda: second.post(remove_path(tablet))])
    assert TOTPDevice.objects.filter(user=ada).count() == 1


def test_security_page_lists_the_devices_and_the_codes_left(ada, ada_signed_in):
    add_totp(ada, "Tablet")
    html = ada_signed_in.get("/accounts/security/").content.decode()
    assert "Phone" in html and "Tablet" in html
    assert f'action="{remove_path(device_of(ada))}"' in html
    assert "Add another authenticator app" in html and "10 recovery codes left." in html


# --- admin reset ------------------------------------------------------------------------------------


@pytest.fixture
def admin_browser(make_admin) -> Client:
    root = make_admin()
    browser = sign_in_admin(root, Client(raise_request_exception=False, REMOTE_ADDR="198.51.100.200"))
    browser.root = root  # type: ignore[attr-defined]  # a note for the test
    return browser


def test_admin_reset_removes_factors_ends_sessions_mails_and_audits(ada, admin_browser, browser, deliver_outbox, clock):
    add_totp(ada, "Tablet")
    recovery.generate(ada)
    laptop = sign_in_with_mfa(browser(), ada)
    clock.advance(30)  # the next code, for the second session
    phone = sign_in_with_mfa(browser(), ada)
    assert len(user_sessions(ada.pk)) == 2
    deliver_outbox().clear()

    response = admin_browser.post("/admin/accounts/user/", {"action": "reset_mfa", "_selected_action": [ada.pk]})
    assert response.status_code == 302
    assert "Two-step verification reset for 1 user." in page_after(admin_browser, response)

    assert not TOTPDevice.objects.filter(user=ada).exists()
    assert not RecoveryCode.objects.filter(user=ada).exists()
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert user_sessions(ada.pk) == {}
    assert is_signed_in(admin_browser)
    assert TOTPDevice.objects.filter(user=admin_browser.root).count() == 1, "the admin's own factor stays"

    [mail] = mfa_mails(deliver_outbox)
    assert mail.to == [ada.email]
    assert "An administrator turned off two-step verification" in mail.body
    [event] = SecurityEvent.objects.filter(kind=Event.ADMIN_MFA_RESET)
    assert (event.user, event.actor, event.ip) == (ada, admin_browser.root, "198.51.100.200")

    # Ada (not staff, MFA not required) signs in with her password alone now.
    assert password_step(browser(), ada.email)["Location"] == "/accounts/"


def test_admin_reset_needs_an_admin(ada, browser):
    recovery.generate(ada)
    c = sign_in_with_mfa(browser(), ada)
    c.post("/admin/accounts/user/", {"action": "reset_mfa", "_selected_action": [ada.pk]})
    assert TOTPDevice.objects.filter(user=ada).count() == 1
    assert not SecurityEvent.objects.filter(kind=Event.ADMIN_MFA_RESET).exists()


def test_user_change_page_shows_two_step_status(ada, make_user, admin_browser, settings):
    recovery.generate(ada)
    add_totp(ada, "Tablet")
    html = admin_browser.get(f"/admin/accounts/user/{ada.pk}/change/").content.decode()
    assert "Two-step verification" in html
    assert "Authenticator apps: Phone, Tablet · recovery codes left: 10" in html

    plain = make_user("plain@example.com")
    assert "Not set up" in admin_browser.get(f"/admin/accounts/user/{plain.pk}/change/").content.decode()
    required = make_user("req@example.com", mfa_required=True)
    page = admin_browser.get(f"/admin/accounts/user/{required.pk}/change/").content.decode()
    assert "Not set up · required" in page

    admin_browser.post("/admin/accounts/user/", {"action": "reset_mfa", "_selected_action": [ada.pk]})
    after = admin_browser.get(f"/admin/accounts/user/{ada.pk}/change/").content.decode()
    assert "Not set up" in after and "Authenticator apps:" not in after


def test_admin_reset_of_a_staff_member_forces_enrolment_at_next_sign_in(make_user, admin_browser, browser):
    staff = make_user("staff@example.com", is_staff=True)
    add_totp(staff)
    admin_browser.post("/admin/accounts/user/", {"action": "reset_mfa", "_selected_action": [staff.pk]})
    c = browser()
    assert password_step(c, staff.email)["Location"] == "/accounts/security/totp/add/"
    assert c.get("/admin/")["Location"] == "/accounts/security/totp/add/"


def test_totp_code_after_reset_does_not_finish_an_old_pending_sign_in(ada, admin_browser, browser):
    """Someone waiting at the code step when the admin resets holds nothing: there is no factor left."""
    phone = device_of(ada)
    code = totp_code(phone)
    c = start_pending(browser(), ada)
    admin_browser.post("/admin/accounts/user/", {"action": "reset_mfa", "_selected_action": [ada.pk]})
    assert submit_code(c, code).status_code == 400
    assert not is_signed_in(c)
