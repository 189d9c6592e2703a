"""The passkey sign-in's answer for a credential nobody here holds (a removed passkey): a distinct code
the page passes to the WebAuthn Signal API, with that credential's id and nothing about any account."""

from __future__ import annotations

import pytest
from django.test import Client
from webauthn.helpers import bytes_to_base64url

from mfa.models import Passkey

from .softauthn import SoftAuthenticator
from .test_passkeys import add_passkey, passkey_signin

pytestmark = pytest.mark.django_db


def test_a_removed_passkey_is_answered_unknown_credential_with_its_id(user):
    authenticator = SoftAuthenticator()
    passkey = add_passkey(user, authenticator)
    credential_id = bytes_to_base64url(bytes(passkey.credential_id))
    passkey.delete()
    response = passkey_signin(Client(), authenticator)
    assert response.status_code == 400
    assert response.json() == {
        "error": "This passkey cannot sign in to this account.",
        "code": "unknown_credential",
        "rpId": "testserver",
        "credentialId": credential_id,
    }
    assert user.email not in response.content.decode()


def test_a_known_passkey_refused_for_another_reason_gets_no_such_code(user):
    """An inactive account's passkey is known: the browser must not be told to forget it, and the
    answer is the same words as for any refusal (nothing says the account exists or is inactive)."""
    authenticator = SoftAuthenticator()
    add_passkey(user, authenticator)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = passkey_signin(Client(), authenticator)
    assert response.status_code == 400
    assert response.json() == {"error": "This passkey cannot sign in to this account."}
    assert Passkey.objects.filter(user=user).exists()
