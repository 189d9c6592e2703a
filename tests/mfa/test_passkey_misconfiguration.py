"""In development, a passkey refused because the site runs on another origin or RP id than it is set up
for says so (PORT=8041 with SITE_URL on :8000 used to give a bare "could not be verified"); in
production the message stays generic, telling an attacker nothing about the configuration."""

from __future__ import annotations

import pytest

from mfa.models import Passkey

from .softauthn import SoftAuthenticator
from .test_passkeys import NOT_VERIFIED, SIGNIN, SIGNIN_OPTIONS, add_passkey, options_from, post_json, refused, register

pytestmark = pytest.mark.django_db

WRONG_PORT = (
    "This page is at http://localhost:8041 but passkeys are set up for http://testserver: set SITE_URL (or "
    "WEBAUTHN_ORIGINS) to this page's address, or open the site at http://testserver."
)


def test_development_names_both_origins_on_the_page_and_in_the_log(signed_in_client, settings, caplog):
    settings.DEBUG = True
    response = register(signed_in_client, SoftAuthenticator(), origin="http://localhost:8041")
    assert refused(response, WRONG_PORT)
    assert "the page is at http://localhost:8041 but WEBAUTHN_ORIGINS is http://testserver" in caplog.text
    assert not Passkey.objects.exists()


def test_development_names_the_rp_id_of_a_passkey_for_another_one(client, user, settings):
    settings.DEBUG = True
    authenticator = SoftAuthenticator()
    add_passkey(user, authenticator)
    assertion = authenticator.get(options_from(client, SIGNIN_OPTIONS), rp_id="localhost")
    response = post_json(client, SIGNIN, {"credential": assertion})
    assert refused(
        response, "This passkey is not for testserver, the RP id passkeys are set up for: check WEBAUTHN_RP_ID."
    )


def test_production_keeps_the_generic_message(signed_in_client, settings, caplog):
    settings.DEBUG = False
    response = register(signed_in_client, SoftAuthenticator(), origin="http://localhost:8041")
    assert refused(response, NOT_VERIFIED)
    assert "WEBAUTHN_ORIGINS" not in caplog.text
