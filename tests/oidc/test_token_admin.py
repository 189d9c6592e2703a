"""App tokens in the admin: records to look at and revoke, never credentials to read or edit.

The review's attack: a helpdesk account allowed to view and change tokens (django-oauth-toolkit's
admins) sets the person on its own access or refresh token to a superuser and then acts as that
superuser at every relying app; or it revokes (deletes) an administrator's tokens. Each test plays
that helpdesk against the real admin and the real token endpoints (Django's test client, PostgreSQL,
Redis).
"""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Permission
from django.test import Client as Browser
from oauth2_provider.models import AccessToken, IDToken, RefreshToken

from accounts.models import SecurityEvent, User
from oidc.models import AuthorizationCode, Consent, TokenFamily
from tests.oidc.relying_party import RelyingParty
from tests.oidc.test_credential_revocation import assert_invalid_grant, signed_in
from tests.users import add_totp, sign_in_admin

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
TOKEN_MODELS = {
    "accesstoken": ("oauth2_provider", AccessToken),
    "refreshtoken": ("oauth2_provider", RefreshToken),
    "idtoken": ("oauth2_provider", IDToken),
    "authorizationcode": ("oidc", AuthorizationCode),
}
SKIPPED = "1 staff or superuser account was skipped: only a superuser can act on it."


def url(model: str, suffix: str = "") -> str:
    app_label, _ = TOKEN_MODELS[model]
    return f"/admin/{app_label}/{model}/{suffix}"


@pytest.fixture
def helpdesk(make_user) -> Browser:
    """Staff allowed to view, change and delete every kind of token, with a second factor."""
    staff = make_user("helpdesk@example.com", is_staff=True)
    codenames = [f"{verb}_{model}" for model in TOKEN_MODELS for verb in ("view", "change", "delete", "add")]
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    add_totp(staff)
    browser = sign_in_admin(User.objects.get(pk=staff.pk))
    browser.account = staff  # type: ignore[attr-defined]  # a note for the test
    return browser


@pytest.fixture
def root(make_admin) -> User:
    return make_admin()


def tokens_of(person: User, rp: RelyingParty) -> dict:
    """A real code flow for `person` (a superuser signs in with their second factor)."""
    browser = sign_in_admin(person) if person.is_superuser else signed_in(person.email)
    return rp.sign_in_and_redeem(browser)


def an_unused_code(person: User, rp: RelyingParty) -> str:
    request = rp.authorization()
    browser = signed_in(person.email)
    response = browser.get(request["url"])
    if response.status_code == 200:
        response = browser.post(request["url"], {"decision": "allow"})
    return rp.callback(response)["code"]


def pages(browser: Browser, model: str, pk: int) -> str:
    listed = browser.get(url(model))
    shown = browser.get(url(model, f"{pk}/change/"))
    assert listed.status_code == 200 and shown.status_code == 200, (listed.status_code, shown.status_code)
    return listed.content.decode() + shown.content.decode()


def test_helpdesk_sees_no_token_code_or_checksum(helpdesk, rp, user):
    tokens = tokens_of(user, rp)
    code = an_unused_code(user, rp)
    access = AccessToken.objects.get(token_checksum=hashlib.sha256(tokens["access_token"].encode()).hexdigest())
    refresh = RefreshToken.objects.get(access_token=access)
    grant = AuthorizationCode.objects.get(code=code)

    secrets = [tokens["access_token"], tokens["refresh_token"], tokens["id_token"], code]
    secrets += [access.token_checksum, refresh.token_checksum, hashlib.sha256(code.encode()).hexdigest()]
    rows = {
        "accesstoken": access.pk,
        "refreshtoken": refresh.pk,
        "idtoken": access.id_token_id,
        "authorizationcode": grant.pk,
    }
    for model, pk in rows.items():
        html = pages(helpdesk, model, pk)
        assert user.email in html and rp.client.name in html  # the person and the app are shown
        for secret in secrets:
            assert secret not in html and secret[-8:] not in html, (model, "shows a token value")
        assert 'name="user"' not in html and 'name="token_checksum"' not in html


def test_helpdesk_cannot_make_its_access_token_act_as_a_superuser(helpdesk, rp, root, make_user):
    """Setting the person on one's own access token to a superuser would be acting as them at every app."""
    own = tokens_of(make_user("ordinary@example.com"), rp)
    access = AccessToken.objects.get(token_checksum=hashlib.sha256(own["access_token"].encode()).hexdigest())

    page = helpdesk.get(url("accesstoken", f"{access.pk}/change/")).content.decode()
    assert 'name="user"' not in page and 'name="_save"' not in page
    changed = helpdesk.post(
        url("accesstoken", f"{access.pk}/change/"),
        {
            "user": root.pk,
            "token_checksum": access.token_checksum,
            "application": rp.client.pk,
            "expires_0": "2099-01-01",
            "expires_1": "00:00:00",
            "scope": "openid email",
            "resource": "[]",
            "_save": "Save",
        },
    )
    assert changed.status_code == 403
    assert AccessToken.objects.get(pk=access.pk).user.email == "ordinary@example.com"
    info = rp.userinfo(own["access_token"])
    assert info.status_code == 200 and info.json()["email"] == "ordinary@example.com"


def test_helpdesk_cannot_make_a_refresh_token_mint_tokens_for_a_superuser(helpdesk, rp, root, user):
    own = tokens_of(user, rp)
    refresh = RefreshToken.objects.get(user=user, revoked__isnull=True)

    changed = helpdesk.post(
        url("refreshtoken", f"{refresh.pk}/change/"),
        {
            "user": root.pk,
            "token_checksum": refresh.token_checksum,
            "application": rp.client.pk,
            "resource": "[]",
            "_save": "Save",
        },
    )
    assert changed.status_code == 403
    assert RefreshToken.objects.get(pk=refresh.pk).user_id == user.pk
    refreshed = rp.refresh(own["refresh_token"])
    assert refreshed.status_code == 200
    assert rp.userinfo(refreshed.json()["access_token"]).json()["email"] == user.email


@pytest.mark.parametrize("model", TOKEN_MODELS)
def test_no_token_can_be_added_or_edited_in_the_admin(helpdesk, model):
    assert helpdesk.get(url(model, "add/")).status_code == 403
    assert 'href="' + url(model, "add/") not in helpdesk.get(url(model)).content.decode()


def test_helpdesk_cannot_revoke_or_delete_a_superusers_tokens(helpdesk, rp, root):
    tokens = tokens_of(root, rp)
    access = AccessToken.objects.get(user=root)
    refresh = RefreshToken.objects.get(user=root)
    for model, pk in (("accesstoken", access.pk), ("refreshtoken", refresh.pk), ("idtoken", access.id_token_id)):
        helpdesk.post(url(model), {"action": "revoke_tokens", "_selected_action": [pk]})
        helpdesk.post(url(model), {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
        deleted = helpdesk.post(url(model, f"{pk}/delete/"), {"post": "yes"})
        assert deleted.status_code == 403, model
    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content  # the superuser's app access still works
    assert not SecurityEvent.objects.filter(kind=Event.ADMIN_TOKENS_REVOKED).exists()


def test_helpdesk_cannot_delete_a_superusers_unused_code(helpdesk, rp, root):
    request = rp.authorization()
    browser = sign_in_admin(root)
    response = browser.get(request["url"])
    if response.status_code == 200:
        response = browser.post(request["url"], {"decision": "allow"})
    code = rp.callback(response)["code"]
    grant = AuthorizationCode.objects.get(code=code)
    assert helpdesk.post(url("authorizationcode", f"{grant.pk}/delete/"), {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [grant.pk], "post": "yes"}
    helpdesk.post(url("authorizationcode"), bulk)
    helpdesk.post(url("authorizationcode"), {"action": "revoke_tokens", "_selected_action": [grant.pk]})
    assert rp.redeem(code, request["verifier"]).status_code == 200


def test_revoking_reports_skipped_superuser_rows(helpdesk, rp, root, user):
    tokens_of(root, rp)
    ordinary = tokens_of(user, rp)
    rows = RefreshToken.objects.filter(revoked__isnull=True).values_list("pk", flat=True)
    response = helpdesk.post(url("refreshtoken"), {"action": "revoke_tokens", "_selected_action": list(rows)})
    assert response.status_code == 302, response.content.decode()[:2000]
    page = helpdesk.get(response["Location"]).content.decode()
    assert SKIPPED in page
    assert_invalid_grant(rp, ordinary["refresh_token"])
    assert RefreshToken.objects.filter(user__is_superuser=True, revoked__isnull=True).exists()


@pytest.mark.parametrize("model", ["accesstoken", "refreshtoken", "idtoken"])
def test_revoking_a_token_ends_its_family_and_is_audited(helpdesk, rp, user, model):
    tokens = tokens_of(user, rp)
    access = AccessToken.objects.get(user=user)
    refresh = RefreshToken.objects.get(user=user)
    pk = {"accesstoken": access.pk, "refreshtoken": refresh.pk, "idtoken": access.id_token_id}[model]

    response = helpdesk.post(url(model), {"action": "revoke_tokens", "_selected_action": [pk]})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_invalid_grant(rp, tokens["refresh_token"])
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    assert not TokenFamily.objects.filter(user=user, revoked_at__isnull=True).exists()
    [event] = SecurityEvent.objects.filter(kind=Event.ADMIN_TOKENS_REVOKED)
    assert event.user_id == user.pk and event.actor_id == helpdesk.account.pk


def test_revoking_an_unused_code_makes_it_unusable_and_is_audited(helpdesk, rp, user):
    request = rp.authorization()
    browser = signed_in(user.email)
    response = browser.get(request["url"])
    if response.status_code == 200:
        response = browser.post(request["url"], {"decision": "allow"})
    code = rp.callback(response)["code"]
    grant = AuthorizationCode.objects.get(code=code)
    response = helpdesk.post(url("authorizationcode"), {"action": "revoke_tokens", "_selected_action": [grant.pk]})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert rp.redeem(code, request["verifier"]).json()["error"] == "invalid_grant"
    assert SecurityEvent.objects.filter(kind=Event.ADMIN_TOKENS_REVOKED, user=user, actor=helpdesk.account).exists()


def test_revoking_needs_delete_permission_not_view(make_user, rp, user):
    viewer = make_user("viewer@example.com", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_refreshtoken"]))
    add_totp(viewer)
    browser = sign_in_admin(User.objects.get(pk=viewer.pk))
    tokens = tokens_of(user, rp)
    refresh = RefreshToken.objects.get(user=user)
    assert browser.get(url("refreshtoken")).status_code == 200
    browser.post(url("refreshtoken"), {"action": "revoke_tokens", "_selected_action": [refresh.pk]})
    assert rp.refresh(tokens["refresh_token"]).status_code == 200


def test_a_superuser_revokes_a_staff_accounts_tokens(make_admin, make_user, rp):
    staff = make_user("colleague@example.com", is_staff=True)
    add_totp(staff)
    tokens = rp.sign_in_and_redeem(sign_in_admin(staff))
    root_browser = sign_in_admin(make_admin())
    refresh = RefreshToken.objects.get(user=staff)
    response = root_browser.post(url("refreshtoken"), {"action": "revoke_tokens", "_selected_action": [refresh.pk]})
    assert response.status_code == 302
    assert_invalid_grant(rp, tokens["refresh_token"])


# --- consents (oidc's own admin) ------------------------------------------------------------


@pytest.fixture
def consent_helpdesk(make_user) -> Browser:
    staff = make_user("consents@example.com", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_consent", "delete_consent"]))
    add_totp(staff)
    browser = sign_in_admin(User.objects.get(pk=staff.pk))
    browser.account = staff  # type: ignore[attr-defined]  # a note for the test
    return browser


def test_helpdesk_cannot_withdraw_a_superusers_consent(consent_helpdesk, rp, root):
    tokens_of(root, rp)
    consent = Consent.objects.get(user=root)
    assert consent_helpdesk.post(f"/admin/oidc/consent/{consent.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [consent.pk], "post": "yes"}
    consent_helpdesk.post("/admin/oidc/consent/", bulk)
    assert Consent.objects.filter(pk=consent.pk).exists()


def test_withdrawing_a_consent_in_the_admin_revokes_the_apps_tokens_and_is_audited(consent_helpdesk, rp, user):
    """Deleting only the consent row left the app's tokens working; it is the person's own "remove
    this app" instead (consent forgotten, tokens revoked, the app told), audited with the admin."""
    tokens = tokens_of(user, rp)
    consent = Consent.objects.get(user=user)
    response = consent_helpdesk.post(f"/admin/oidc/consent/{consent.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Consent.objects.filter(user=user).exists()
    assert_invalid_grant(rp, tokens["refresh_token"])
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    [event] = SecurityEvent.objects.filter(kind=Event.ADMIN_TOKENS_REVOKED)
    assert event.user_id == user.pk and event.actor_id == consent_helpdesk.account.pk
