"""What our relying apps are told about a sign-in through an upstream provider: RFC 8176's `fed` in
`amr`, one factor on its own, two with an authenticator app (so a step-up for `mfa` is satisfied)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from oidc.assurance import ACR_1FA, ACR_MFA
from tests.oidc.relying_party import RelyingParty, register
from tests.users import add_totp, pass_mfa

from .browsing import sign_in_through

pytestmark = pytest.mark.django_db


def test_an_upstream_sign_in_is_one_factor_named_fed(provider):
    browser = Client()
    sign_in_through(browser)

    claims = RelyingParty(*register(skip_authorization=True)).sign_in_and_redeem(browser)["claims"]

    assert claims["amr"] == ["fed"] and claims["acr"] == ACR_1FA


def test_with_an_authenticator_app_it_is_multi_factor(provider, totp_clock):
    sign_in_through(Client())
    user = User.objects.get()
    add_totp(user)
    browser = Client()
    sign_in_through(browser)
    pass_mfa(browser, user)

    claims = RelyingParty(*register(skip_authorization=True)).sign_in_and_redeem(browser, acr_values=ACR_MFA)["claims"]

    assert claims["amr"] == ["fed", "otp", "mfa"] and claims["acr"] == ACR_MFA
