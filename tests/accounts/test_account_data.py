""" "Download my data" (issue 19, self-service): contents, no secret anywhere, sudo required."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from directory.models import Group, Membership
from mfa import recovery
from mfa.models import Passkey
from oidc.models import TokenFamily
from tests.oidc.relying_party import RelyingParty, register
from tests.users import PASSWORD, add_totp, pass_mfa

URL = "/accounts/data/"


@pytest.fixture
def full_account(user):
    """An account with every kind of secret the service holds: a TOTP key, a passkey, recovery codes,
    a group, an app's tokens."""
    user.display_name = "Ada Lovelace"
    user.save()
    totp = add_totp(user, "Pixel")
    passkey = Passkey.objects.create(
        user=user,
        user_handle=b"h" * 32,
        credential_id=b"credential-id-bytes-0123456789",
        public_key=b"public-key-bytes-secret-ish",
        aaguid="08987058-cadc-4b81-b6e1-30de50dcbe96",
        name="YubiKey",
    )
    codes = recovery.generate(user)
    Membership.objects.create(user=user, group=Group.objects.create(display_name="Engineering"))
    return {"totp": totp, "passkey": passkey, "codes": codes}


def signed_in(user) -> Client:
    browser = Client(raise_request_exception=False, HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    assert browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    if user.totpdevice_set.exists():
        assert pass_mfa(browser, user).status_code == 302
    return browser


def test_the_download_holds_profile_sessions_history_apps_and_factors(full_account, user):
    browser = signed_in(user)
    tokens = RelyingParty(*register("Notes")).sign_in_and_redeem(browser)
    response = browser.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="identity-data-') and disposition.endswith('.json"')
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["profile"]["email"] == user.email and data["profile"]["name"] == "Ada Lovelace"
    assert data["profile"]["joined_at"]
    [session] = data["sessions"]
    assert session["device"] and session["ip"] == "127.0.0.1" and session["signed_in_at"]
    assert any(row["event"] == "signin_succeeded" for row in data["activity"])
    factors = data["second_factors"]
    assert [p["name"] for p in factors["passkeys"]] == ["YubiKey"]
    assert factors["passkeys"][0]["aaguid"] == "08987058-cadc-4b81-b6e1-30de50dcbe96"
    assert [a["name"] for a in factors["authenticator_apps"]] == ["Pixel"]
    assert factors["recovery_codes"]["left"] == len(full_account["codes"])
    assert [app["app"] for app in data["oidc_apps"]] == ["Notes"] and data["oidc_apps"][0]["has_live_tokens"]
    assert [g["group"] for g in data["directory"]["groups"]] == ["Engineering"]
    assert data["sign_in_providers"] == [] and data["saml_apps"] == []
    assert SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.DATA_EXPORTED).count() == 1
    assert tokens["access_token"] not in response.content.decode()


def test_no_secret_is_anywhere_in_the_download(full_account, user):
    browser = signed_in(user)
    tokens = RelyingParty(*register("Notes")).sign_in_and_redeem(browser)
    text = browser.get(URL).content.decode()
    user.refresh_from_db()
    family = TokenFamily.objects.get(user=user)
    secrets = [
        full_account["totp"].key,  # hex
        full_account["totp"].bin_key.hex(),
        user.password,
        user.password.split("$")[-1],
        full_account["passkey"].public_key.hex(),
        full_account["passkey"].credential_id.hex(),
        "credential-id-bytes",
        "public-key-bytes",
        *full_account["codes"],
        *(code.replace("-", "") for code in full_account["codes"]),
        *user.recovery_codes.values_list("code_hash", flat=True),
        browser.cookies[settings.SESSION_COOKIE_NAME].value,
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["id_token"],
        family.code_hash,
    ]
    for secret in secrets:
        assert secret and secret not in text, secret


def test_the_download_needs_a_recent_reauthentication(user, clock):
    browser = signed_in(user)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)
    stale = browser.get(URL)  # a stolen cookie, some time after the owner signed in
    assert stale.status_code == 302 and stale["Location"].startswith(
        "/accounts/reauthenticate/?next=%2Faccounts%2Fdata%2F"
    )
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DATA_EXPORTED).exists()
    back = browser.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": URL})
    assert back.status_code == 302 and back["Location"] == URL
    assert json.loads(browser.get(URL).content)["profile"]["email"] == user.email


def test_the_download_needs_a_signed_in_person(client, user):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_download_is_only_a_get(user):
    assert signed_in(user).post(URL).status_code == 405
