"""An attacker's review of APIs (docs/apis.md): what an app, a machine or a resource server holding
one credential tries against the real endpoints, and that it fails. Real tokens (Django's test client,
PostgreSQL, Redis); JWTs read by PyJWT through docs/apis.md's example verifier."""

from __future__ import annotations

import pytest
from oauth2_provider.models import AccessToken

from accounts.flows.lifecycle import deactivate_user
from oidc.models import Api, ApiScope, Client
from tests.oidc.apis import api_scope, grant, register_api, resource_server
from tests.oidc.relying_party import REDIRECT_URI, SECRET, RelyingParty, approve, register
from tests.oidc.test_apis import MAIL, client_credentials, verified
from tests.oidc.test_apis_migration import BEFORE, migrate
from tests.oidc.test_review_findings import introspect

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_app(rp) -> RelyingParty:
    grant(rp.client, "mail.read", "mail.send")
    return rp


# --- an app whose grant an admin withdrew ----------------------------------------------------------


def test_a_refresh_brings_no_api_scope_an_admin_withdrew(mail_app, signed_in_client):
    """The app was granted mail.read, got a refresh token for it, and an admin withdrew the grant: its
    refresh token must not keep minting Mail API tokens for the rest of its (absolute) lifetime."""
    body = mail_app.sign_in_and_redeem(signed_in_client, scope="openid offline_access mail.read", resource=MAIL)
    mail_app.client.granted_scopes.remove(api_scope("mail.read"))
    withdrawn_after = AccessToken.objects.order_by("pk").last().pk
    asked = mail_app.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "scope": "mail.read"}
    )
    assert asked.status_code == 400 and asked.json()["error"] == "invalid_scope"
    refreshed = mail_app.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["scope"] == "openid offline_access"
    assert refreshed.json()["access_token"].count(".") != 2  # opaque: no token for the Mail API
    named = mail_app.token(
        {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"], "resource": MAIL}
    )
    assert named.status_code == 400 and named.json()["error"] == "invalid_target"
    assert not AccessToken.objects.filter(pk__gt=withdrawn_after, scope__contains="mail.read").exists()


def test_a_live_token_of_a_withdrawn_grant_is_inactive_at_introspection(mail_app, signed_in_client):
    """An API that introspects notices a withdrawal at once, as it notices a revocation (docs/apis.md)."""
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["access_token"]
    mail_server = resource_server("Mail backend", served_scopes="mail.read")
    assert introspect(mail_server, token).json()["active"] is True
    mail_app.client.granted_scopes.remove(api_scope("mail.read"))
    assert introspect(mail_server, token).json() == {"active": False}


def test_a_code_brings_no_api_scope_withdrawn_since_it_was_issued(mail_app, signed_in_client):
    request = mail_app.authorization(scope="openid mail.read", resource=MAIL)
    code = mail_app.callback(approve(signed_in_client, request["url"]))["code"]
    mail_app.client.granted_scopes.remove(api_scope("mail.read"))
    redeemed = mail_app.redeem(code, request["verifier"])
    assert redeemed.status_code == 200, redeemed.content
    assert redeemed.json()["scope"] == "openid" and redeemed.json()["access_token"].count(".") != 2


def test_introspection_names_a_machine_as_its_jwt_does(db):
    """docs/apis.md: an active answer carries `sub`, and a machine's JWT says sub = its client id; an API
    moving from local verification to introspection must not find machine tokens without a subject."""
    client, secret = register("Batch", grant=Client.GRANT_CLIENT_CREDENTIALS)
    grant(client, "mail.read")
    token = client_credentials(RelyingParty(client, secret)).json()["access_token"]
    answer = introspect(resource_server("Mail backend", served_scopes="mail.read"), token).json()
    assert answer["active"] is True and answer["sub"] == answer["client_id"] == client.client_id
    assert verified(RelyingParty(client, secret), token, MAIL)["sub"] == answer["sub"]


# --- what held (each an attack tried in the review) ------------------------------------------------


def test_a_code_exchange_cannot_widen_its_scopes(mail_app, signed_in_client):
    request = mail_app.authorization(scope="openid mail.read", resource=MAIL)
    code = mail_app.callback(approve(signed_in_client, request["url"]))["code"]
    body = mail_app.redeem(code, request["verifier"], scope="openid mail.read mail.send").json()
    assert verified(mail_app, body["access_token"], MAIL)["scope"] == "openid mail.read"


def test_a_consented_scope_of_one_app_is_not_another_apps(mail_app, signed_in_client):
    mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")
    other, secret = register("Other app")
    grant(other, "mail.read")
    page = signed_in_client.get(RelyingParty(other, secret).authorization(scope="openid mail.read")["url"])
    assert page.status_code == 200 and "Read your mail" in page.content.decode()  # asked, not reused


def test_an_api_and_its_scopes_written_as_html_are_shown_as_text(rp, signed_in_client):
    register_api("<b>Mail</b> API", "urn:example:evil", {"evil.read": "<script>alert(1)</script>"})
    grant(rp.client, "evil.read")
    page = signed_in_client.get(rp.authorization(scope="openid evil.read")["url"]).content.decode()
    assert "<script>alert(1)" not in page and "<b>Mail" not in page and "&lt;script&gt;" in page


def test_introspection_says_nothing_of_a_refresh_token_nor_of_a_deactivated_persons_jwt(
    mail_app, signed_in_client, user
):
    body = mail_app.sign_in_and_redeem(signed_in_client, scope="openid offline_access mail.read", resource=MAIL)
    mail_server = resource_server("Mail backend", served_scopes="mail.read")
    assert introspect(mail_server, body["refresh_token"], token_type_hint="refresh_token").json() == {"active": False}
    assert introspect(mail_server, body["access_token"]).json()["active"] is True
    deactivate_user(user)
    assert introspect(mail_server, body["access_token"]).json() == {"active": False}
    assert mail_app.refresh(body["refresh_token"]).status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        {"resource": MAIL.upper()},
        {"resource": MAIL + "#fragment"},
        {"resource": ""},
        {"scope": "MAIL.READ"},
        {"scope": "mail.read\tcalendar.read"},
        {"scope": "mail.read  mail.send"},
    ],
    ids=["case", "fragment", "empty resource", "scope case", "tab", "double space"],
)
def test_odd_resources_and_scopes_get_no_machine_token(db, data):
    client, secret = register("Batch", grant=Client.GRANT_CLIENT_CREDENTIALS)
    grant(client, "mail.read", "mail.send", "calendar.read")
    refused = client_credentials(RelyingParty(client, secret), **data)
    assert refused.status_code == 400 and refused.json()["error"] in {"invalid_target", "invalid_scope"}
    assert not AccessToken.objects.filter(application=client).exists()


# --- the data migration, with old data -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_move_to_apis_keeps_the_roles_scope_openid_connects(user):
    """An app allowed the directory's `roles` scope before APIs: oidc 0007 took every scope but four of
    OpenID Connect's for an API's, so `roles` became a scope of a made-up API (named on the consent page,
    and an API row the admin then refuses to save)."""
    old = migrate(BEFORE)
    app = old.get_model("oidc", "Client").objects.create(
        name="Wiki",
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT_URI,
        client_secret=SECRET,
        allowed_scopes="openid email roles",
    )
    migrate()
    assert not ApiScope.objects.filter(value="roles").exists() and not Api.objects.exists()
    app = Client.objects.get(pk=app.pk)
    assert app.allowed_scopes == "openid email roles" and not app.granted_scopes.exists()


@pytest.mark.django_db(transaction=True)
def test_the_move_to_apis_takes_an_overlong_description_from_oidc_api_scopes(monkeypatch):
    """OIDC_API_SCOPES never limited its sentences; the scope's column holds 255 characters, and a longer
    one stopped `migrate` (a database error) for the whole deployment."""
    old = migrate(BEFORE)
    old.get_model("oidc", "Client").objects.create(
        name="Webmail",
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT_URI,
        client_secret=SECRET,
        allowed_scopes="openid mail.read",
    )
    monkeypatch.setenv("OIDC_API_SCOPES", '{"mail.read": "%s"}' % ("Read your mail. " * 20))
    migrate()
    description = ApiScope.objects.get(value="mail.read").description
    assert description.startswith("Read your mail.") and len(description) <= 255
