import pytest

from accounts.models import SecurityEvent
from mfa.models import Passkey
from tests.accounts.test_admin import factor_removal
from tests.users import sign_in_admin

pytestmark = pytest.mark.django_db


def stored_passkey(user, name="Laptop"):
    return Passkey.objects.create(
        user=user, user_handle=b"h" * 32, credential_id=name.encode(), public_key=b"k", name=name
    )


def test_a_passkey_is_offered_once_after_signing_in_without_one(signed_in_client):
    first = signed_in_client.get("/accounts/").content.decode()
    assert "Sign in faster with a passkey" in first
    assert "Sign in faster with a passkey" not in signed_in_client.get("/accounts/").content.decode()


def test_no_offer_to_someone_who_has_a_passkey(user, client):
    stored_passkey(user)
    from tests.users import PASSWORD

    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    # (a passkey is a second factor: the password step now leads to the MFA page)
    assert client.get("/accounts/mfa/").status_code == 200
    assert "Use a passkey" in client.get("/accounts/mfa/").content.decode()


def test_admin_sees_a_users_passkeys_and_removal_is_audited(make_admin, user):
    passkey = stored_passkey(user)
    admin = make_admin()
    browser = sign_in_admin(admin)
    page = browser.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Laptop" in page
    response = browser.post(f"/admin/accounts/user/{user.pk}/change/", factor_removal(user, passkey))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not Passkey.objects.filter(user=user).exists()
    assert SecurityEvent.objects.filter(user=user, kind="mfa_removed", actor=admin).exists()


def test_someone_who_must_enrol_is_offered_a_passkey_as_well(make_user, client, settings):
    from tests.users import PASSWORD

    settings.MFA_REQUIRED = "all"
    user = make_user("new@example.com")
    assert client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})["Location"] == (
        "/accounts/security/totp/add/"
    )
    page = client.get("/accounts/security/totp/add/").content.decode()
    assert "Or use a passkey instead" in page and "data-passkey-register" in page
    assert "/static/js/passkeys.js" in page
