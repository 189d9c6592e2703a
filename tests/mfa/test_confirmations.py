"""The security page says whether two-step verification is on, and removing a factor or regenerating
recovery codes goes through a page that says what will happen (GET), then Confirm (POST) (issue 19)."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from mfa import recovery
from mfa.models import Passkey, RecoveryCode

from .pages import device_of, sign_in_with_mfa
from .softauthn import SoftAuthenticator
from .test_passkeys import add_passkey

pytestmark = pytest.mark.django_db

SECURITY = "/accounts/security/"
REGENERATE = "/accounts/security/recovery-codes/regenerate/"


def totp_remove(device) -> str:
    return f"/accounts/security/totp/{device.pk}/remove/"


def passkey_remove(passkey) -> str:
    return f"/accounts/security/passkeys/{passkey.pk}/remove/"


@pytest.fixture
def laptop(ada) -> Passkey:
    return add_passkey(ada, SoftAuthenticator())


@pytest.fixture
def ada_signed_in(ada, browser) -> Client:
    """Ada, with her phone and ten recovery codes, signed in with both factors."""
    recovery.generate(ada)
    return sign_in_with_mfa(browser(), ada)


def nothing_changed(ada, factors: int = 2) -> bool:
    return (
        TOTPDevice.objects.filter(user=ada).count() + Passkey.objects.filter(user=ada).count() == factors
        and RecoveryCode.objects.filter(user=ada, used_at__isnull=True).count() == 10
        and not SecurityEvent.objects.filter(
            kind__in=[SecurityEvent.Kind.MFA_REMOVED, SecurityEvent.Kind.RECOVERY_CODES_GENERATED]
        ).exists()
    )


def test_the_security_page_says_two_step_verification_is_on_and_with_what(ada, laptop, ada_signed_in):
    html = ada_signed_in.get(SECURITY).content.decode()
    assert "Two-step verification is on: 1 authenticator app, 1 passkey, recovery codes (10 left)." in html
    assert "If you remove the last authenticator app or passkey, two-step verification turns off" in html


def test_the_security_page_says_when_it_is_off(signed_in_client):
    html = signed_in_client.get(SECURITY).content.decode()
    assert 'data-mfa-status="off"' in html and "Two-step verification is off." in html


def test_the_security_page_says_staff_must_keep_it(ada, ada_signed_in):
    ada.mfa_required = True
    ada.save(update_fields=["mfa_required"])
    html = ada_signed_in.get(SECURITY).content.decode()
    assert "requires two-step verification for this account: its last authenticator app or passkey cannot" in html


def test_the_security_page_buttons_only_lead_to_the_confirmation_pages(ada, laptop, ada_signed_in):
    html = ada_signed_in.get(SECURITY).content.decode()
    for path in (passkey_remove(laptop), totp_remove(device_of(ada)), REGENERATE):
        assert f'<form method="get" action="{path}"' in html
        assert f'<form method="post" action="{path}"' not in html


def test_removing_a_passkey_is_confirmed_on_a_page_that_says_what_stays(ada, laptop, ada_signed_in):
    page = ada_signed_in.get(passkey_remove(laptop))
    html = page.content.decode()
    assert page.status_code == 200 and "Remove the passkey “Laptop”?" in html
    assert "You will no longer be able to sign in with it." in html
    assert "Two-step verification stays on with: 1 authenticator app, recovery codes (10 left)." in html
    assert f'<form method="post" action="{passkey_remove(laptop)}"' in html and "csrfmiddlewaretoken" in html
    assert nothing_changed(ada)
    assert ada_signed_in.post(passkey_remove(laptop))["Location"] == SECURITY
    assert not Passkey.objects.filter(user=ada).exists()


def test_removing_the_last_factor_says_two_step_verification_turns_off(ada, ada_signed_in):
    html = ada_signed_in.get(totp_remove(device_of(ada))).content.decode()
    assert "Remove the authenticator app “Phone”?" in html
    assert "Two-step verification turns off: you will sign in with your password alone" in html
    assert nothing_changed(ada, factors=1)


def test_someone_who_must_keep_a_factor_is_told_before_confirming(ada, ada_signed_in):
    ada.mfa_required = True
    ada.save(update_fields=["mfa_required"])
    html = ada_signed_in.get(totp_remove(device_of(ada))).content.decode()
    main = html.split("<main")[1].split("</main>")[0]
    assert "cannot be removed. Add another one first." in html and 'method="post"' not in main
    ada_signed_in.post(totp_remove(device_of(ada)))  # the POST keeps refusing, as before
    assert nothing_changed(ada, factors=1)


def test_regenerating_recovery_codes_is_confirmed_first(ada, ada_signed_in):
    html = ada_signed_in.get(REGENERATE).content.decode()
    assert "Generate new recovery codes?" in html and "Your 10 unused recovery codes stop working at once." in html
    assert nothing_changed(ada, factors=1)
    assert ada_signed_in.post(REGENERATE)["Location"] == "/accounts/security/recovery-codes/"


def test_the_german_confirmation_page(ada, laptop, ada_signed_in):
    html = ada_signed_in.get(passkey_remove(laptop), headers={"accept-language": "de"}).content.decode()
    assert "Den Passkey „Laptop“ entfernen?" in html
    assert "Die Zwei-Schritt-Verifizierung bleibt aktiv mit: 1 Authenticator-App" in html


def test_a_cross_site_post_removes_nothing(ada, laptop, ada_signed_in):
    """A page elsewhere posting to Confirm with Ada's cookies: no CSRF token, nothing happens."""
    forged = Client(enforce_csrf_checks=True)
    forged.cookies = ada_signed_in.cookies
    for path in (passkey_remove(laptop), totp_remove(device_of(ada)), REGENERATE):
        assert forged.post(path).status_code == 403
    assert nothing_changed(ada)


def test_the_confirmation_pages_need_a_recent_sign_in(ada, laptop, ada_signed_in, clock):
    """A stolen, older session cookie sees no confirmation page either: it is sent to confirm it's you."""
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    for path in (passkey_remove(laptop), totp_remove(device_of(ada)), REGENERATE):
        response = ada_signed_in.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/?next=")
    assert nothing_changed(ada)


def test_another_persons_factor_has_no_confirmation_page(ada, laptop, ada_signed_in, make_user):
    grace = make_user("grace@example.com")
    theirs = add_passkey(grace, SoftAuthenticator())
    assert ada_signed_in.get(passkey_remove(theirs)).status_code == 404
