"""Providers in the admin: only superusers change them, and the client secret is write-only."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks

from federation import crypto
from federation.models import Provider
from identity.health import STARTUP
from tests.accounts.test_admin_least_privilege import grant
from tests.users import add_totp, sign_in_admin

pytestmark = pytest.mark.django_db

SECRET = "s3cret-from-the-provider-0123456789"


def provider_form(**overrides) -> dict:
    form = {
        "name": "Acme",
        "slug": "acme",
        "issuer": "https://login.acme.example",
        "client_id": "identity",
        "client_secret": SECRET,
        "scopes": "openid email profile",
        "enabled": "on",
        "allowed_email_domains": "",
        "_save": "Save",
    }
    form.update(overrides)
    return form


def test_a_superuser_adds_a_provider_whose_secret_is_stored_encrypted_and_never_shown(make_admin):
    admin = sign_in_admin(make_admin())

    added = admin.post("/admin/federation/provider/add/", provider_form())

    assert added.status_code == 302, added.content.decode()[:3000]
    provider = Provider.objects.get()
    assert SECRET not in provider.client_secret_sealed and provider.client_secret == SECRET
    page = admin.get(f"/admin/federation/provider/{provider.pk}/change/").content.decode()
    assert SECRET not in page and provider.client_secret_sealed not in page


def test_a_change_with_the_secret_left_blank_keeps_it(make_admin):
    admin = sign_in_admin(make_admin())
    admin.post("/admin/federation/provider/add/", provider_form())
    provider = Provider.objects.get()

    changed = admin.post(
        f"/admin/federation/provider/{provider.pk}/change/", provider_form(client_secret="", name="Acme SSO")
    )

    assert changed.status_code == 302
    provider.refresh_from_db()
    assert provider.name == "Acme SSO" and provider.client_secret == SECRET


def test_a_new_provider_needs_a_secret_and_the_openid_scope(make_admin):
    admin = sign_in_admin(make_admin())

    assert admin.post("/admin/federation/provider/add/", provider_form(client_secret="")).status_code == 200
    assert admin.post("/admin/federation/provider/add/", provider_form(scopes="email profile")).status_code == 200
    assert not Provider.objects.exists()


def test_staff_allowed_to_change_providers_still_cannot(make_user):
    staff = grant(make_user("helpdesk@example.com", is_staff=True), "view_provider", "change_provider", "add_provider")
    add_totp(staff)
    helpdesk = sign_in_admin(staff)

    refused = helpdesk.post("/admin/federation/provider/add/", provider_form())

    assert refused.status_code == 403 and not Provider.objects.exists()


def test_the_secret_is_sealed_with_the_configured_key(settings):
    settings.FEDERATION_SECRET_KEY = Fernet.generate_key().decode()
    sealed = crypto.seal(SECRET)
    assert Fernet(settings.FEDERATION_SECRET_KEY.encode()).decrypt(sealed.encode()).decode() == SECRET

    settings.FEDERATION_SECRET_KEY = Fernet.generate_key().decode()  # the key changed: nothing to send
    assert crypto.unseal(sealed) == ""


def test_without_a_key_one_is_derived_from_the_secret_key_never_the_secret_key_itself(settings):
    settings.FEDERATION_SECRET_KEY = ""
    sealed = crypto.seal(SECRET)
    assert crypto.unseal(sealed) == SECRET

    settings.SECRET_KEY = "another-secret-key-0123456789-0123456789-0123456789"
    assert crypto.unseal(sealed) == ""


def test_a_key_that_is_no_fernet_key_stops_the_start(settings):
    settings.FEDERATION_SECRET_KEY = "not-a-key"

    assert [error.id for error in run_checks(tags=[STARTUP])] == ["federation.E001"]
