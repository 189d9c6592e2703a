"""The admin's provider form per kind (federation/presets.py): the kind first, then its defaults and only
the settings that apply to it, validated for that kind."""

from __future__ import annotations

import pytest

from federation.models import Provider
from tests.users import sign_in_admin

from .entra import OTHER_TENANT, TENANT
from .test_admin import SECRET, provider_form

pytestmark = pytest.mark.django_db

ADD = "/admin/federation/provider/add/"
ENTRA = "https://login.microsoftonline.com"


@pytest.fixture
def admin(make_admin):
    return sign_in_admin(make_admin())


def test_adding_starts_with_the_choice_of_kind(admin):
    page = admin.get(ADD).content.decode()

    for kind in ("oidc", "google", "entra", "github"):
        assert f'href="?kind={kind}" data-kind="{kind}"' in page and f"/static/federation/{kind}.svg" in page
    assert 'name="client_id"' not in page


def test_the_google_form_has_its_defaults_and_no_tenants(admin):
    page = admin.get(ADD, {"kind": "google"}).content.decode()

    assert 'value="https://accounts.google.com"' in page and 'value="openid email profile"' in page
    assert 'name="name" value="Google"' in page and 'name="kind" value="google"' in page
    assert 'name="allowed_tenants"' not in page


def test_only_the_entra_form_has_allowed_tenants(admin):
    page = admin.get(ADD, {"kind": "entra"}).content.decode()

    assert 'name="allowed_tenants"' in page and f'value="{ENTRA}/organizations/v2.0"' in page


def test_a_google_provider_is_added_with_the_kind_chosen_first(admin):
    form = provider_form(kind="entra", name="Google", slug="google", issuer="https://accounts.google.com")
    form["allowed_tenants"] = TENANT  # not a field of Google's form: ignored

    added = admin.post(f"{ADD}?kind=google", form)

    assert added.status_code == 302, added.content.decode()[:3000]
    provider = Provider.objects.get()
    assert (provider.kind, provider.allowed_tenants, provider.client_secret) == ("google", "", SECRET)


def test_a_google_issuer_with_a_path_is_refused(admin):
    form = provider_form(slug="google", issuer="https://accounts.google.com/o/oauth2")

    assert admin.post(f"{ADD}?kind=google", form).status_code == 200 and not Provider.objects.exists()


@pytest.mark.parametrize(
    ("issuer", "tenants"),
    [
        (f"{ENTRA}/contoso.onmicrosoft.com/v2.0", ""),  # a domain, not the tenant's GUID
        (f"{ENTRA}/{TENANT}", ""),  # v1 authority
        (f"{ENTRA}/{TENANT}/v2.0/", ""),
        (f"{ENTRA}/{TENANT.upper()}/v2.0", ""),  # Entra's issuer has it in lower case
        (f"{ENTRA}/{TENANT}/v2.0", OTHER_TENANT),  # one tenant: there is nothing to allow
        (f"{ENTRA}/organizations/v2.0", "not-a-tenant-id"),
    ],
    ids=["domain", "v1", "trailing-slash", "upper-case", "tenants-for-one", "not-a-guid"],
)
def test_entra_settings_that_do_not_fit_are_refused(admin, issuer, tenants):
    form = provider_form(slug="entra", issuer=issuer, allowed_tenants=tenants)

    refused = admin.post(f"{ADD}?kind=entra", form)

    assert refused.status_code == 200 and not Provider.objects.exists()
    assert "errorlist" in refused.content.decode()


def test_an_entra_provider_for_many_tenants_keeps_its_allowed_tenants(admin):
    form = provider_form(
        slug="entra", issuer=f"{ENTRA}/organizations/v2.0", allowed_tenants=f"{TENANT}, {OTHER_TENANT}"
    )

    assert admin.post(f"{ADD}?kind=entra", form).status_code == 302
    assert Provider.objects.get().allowed_tenants == f"{TENANT}, {OTHER_TENANT}"


def test_github_needs_no_openid_scope_but_its_address_scope(admin):
    form = provider_form(slug="github", issuer="https://github.com", scopes="read:user")
    assert admin.post(f"{ADD}?kind=github", form).status_code == 200 and not Provider.objects.exists()

    form["scopes"] = "read:user user:email"
    assert admin.post(f"{ADD}?kind=github", form).status_code == 302
    assert Provider.objects.get().kind == "github"


def test_the_kind_of_a_saved_provider_is_fixed(admin):
    admin.post(f"{ADD}?kind=google", provider_form(slug="google", issuer="https://accounts.google.com"))
    provider = Provider.objects.get()

    changed = admin.post(
        f"/admin/federation/provider/{provider.pk}/change/", provider_form(slug="google", kind="oidc", client_secret="")
    )

    assert changed.status_code == 302
    provider.refresh_from_db()
    assert provider.kind == "google"


def test_an_error_on_a_setting_the_form_does_not_show_is_said_above_it(admin):
    """Trusting GitHub's second factors is refused even though its form has no such field."""
    provider = Provider(kind="github", slug="github", name="GitHub", issuer="https://github.com", client_id="x")
    provider.scopes, provider.trust_upstream_mfa = "read:user user:email", True
    provider.client_secret = SECRET
    provider.save()

    refused = admin.post(
        f"/admin/federation/provider/{provider.pk}/change/",
        provider_form(slug="github", name="GitHub", issuer="https://github.com", scopes="user:email", client_secret=""),
    )

    assert refused.status_code == 200 and "its second factors cannot count" in refused.content.decode()


@pytest.mark.parametrize(("kind", "shown"), [("oidc", True), ("entra", True), ("google", False), ("github", False)])
def test_trusting_second_factors_is_offered_only_where_the_tokens_can_say_so(admin, kind, shown):
    """GitHub has no ID token and Google's carry no amr: for them the setting does not apply."""
    page = admin.get(ADD, {"kind": kind}).content.decode()

    assert ('name="trust_upstream_mfa"' in page) == shown


def test_an_oidc_provider_may_be_trusted_with_its_second_factors(admin):
    assert admin.post(f"{ADD}?kind=oidc", provider_form(trust_upstream_mfa="on")).status_code == 302
    assert Provider.objects.get().trust_upstream_mfa


def test_google_cannot_be_trusted_with_second_factors_it_never_names(db):
    from django.core.exceptions import ValidationError

    provider = Provider(kind="google", slug="google", name="Google", issuer="https://accounts.google.com")
    provider.client_id, provider.trust_upstream_mfa = "x", True
    with pytest.raises(ValidationError, match="no amr"):
        provider.full_clean()
