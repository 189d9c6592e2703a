"""APIs and their scopes (docs/apis.md): RFC 8707 `resource`, RFC 9068 JWT access tokens verified from
the JWKS by a second JOSE library (PyJWT, running docs/apis.md's example verifier as written), consent,
client credentials, introspection by audience, refresh, and the attacks each rule stops. Real tokens
from the real endpoints (Django's test client, PostgreSQL, Redis)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from oauth2_provider.models import AccessToken

from directory.models import AppRole, Assignment
from oidc import keys
from oidc.models import Api, Client
from tests.directory.directory import NO_ROLES_OR_ASSIGNMENTS
from tests.oidc.apis import api_scope, grant, resource_server
from tests.oidc.relying_party import ISSUER, RelyingParty, approve, register
from tests.oidc.test_review_findings import introspect
from tests.users import add_totp, sign_in_admin

pytestmark = pytest.mark.django_db

MAIL = "https://mail.example/api"
CALENDAR = "urn:example:calendar"
DOC = Path(settings.BASE_DIR) / "docs" / "apis.md"


def example_verifier():
    """docs/apis.md's example resource server code, exactly as the page shows it."""
    page = DOC.read_text()
    code = re.search(r"<!-- example: verify_access_token -->\n```python\n(.*?)```", page, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102  # our own documentation's code
    return namespace["verify_access_token"]


verify_access_token = example_verifier()


def jwks(rp: RelyingParty) -> dict:
    return rp.http.get("/oauth/jwks/").json()


def verified(rp: RelyingParty, token: str, audience: str) -> dict:
    """As the API of `audience` verifies, with its algorithm (its admin page tells its developers; the
    example's default for an API not registered here)."""
    registered = Api.objects.filter(identifier=audience).first()
    options = {"algorithm": registered.algorithm} if registered else {}
    return verify_access_token(token, jwks=jwks(rp), issuer=ISSUER, audience=audience, **options)


@pytest.fixture
def mail_app(rp) -> RelyingParty:
    """The confidential app of conftest, granted the Mail API's two scopes."""
    grant(rp.client, "mail.read", "mail.send")
    return rp


@pytest.fixture
def machine(db) -> RelyingParty:
    client, secret = register("Batch", grant=Client.GRANT_CLIENT_CREDENTIALS)
    grant(client, "mail.read", "mail.send")
    return RelyingParty(client, secret)


def client_credentials(machine: RelyingParty, **data):
    return machine.token({"grant_type": "client_credentials", **data})


def code_response(rp: RelyingParty, browser, **overrides):
    """The authorization response (through consent) for these parameters."""
    return rp.callback(approve(browser, rp.authorization(**overrides)["url"]))


# --- tokens for people ------------------------------------------------------------------------


def test_an_api_token_carries_roles_only_with_the_roles_scope(mail_app, signed_in_client, user):
    """As in the ID token: an app that did not ask for `roles` (and whose consent did not say so) sends
    the API no roles of the person's."""
    editor = AppRole.objects.create(app=mail_app.client, value="editor", display_name="Editor")
    Assignment.objects.create(app=mail_app.client, role=editor, user=user)
    body = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read", resource=MAIL)
    assert "roles" not in verified(mail_app, body["access_token"], MAIL)


def test_the_code_flow_with_resource_gives_an_rfc_9068_token_for_the_api(mail_app, signed_in_client, user):
    editor = AppRole.objects.create(app=mail_app.client, value="editor", display_name="Editor")
    Assignment.objects.create(app=mail_app.client, role=editor, user=user)
    mail_app.client.allowed_scopes += " roles"
    mail_app.client.save()
    body = mail_app.sign_in_and_redeem(signed_in_client, scope="openid roles mail.read", resource=MAIL)
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"  # a new API's default
    assert header["kid"] in {key["kid"] for key in jwks(mail_app)["keys"]}
    claims = verified(mail_app, token, MAIL)
    assert claims["aud"] == MAIL and claims["iss"] == ISSUER
    assert claims["sub"] == str(user.subject) == body["claims"]["sub"]
    assert claims["client_id"] == mail_app.client.client_id and claims["scope"] == "openid roles mail.read"
    assert claims["roles"] == ["editor"]
    assert claims["amr"] == body["claims"]["amr"] and claims["auth_time"] == body["claims"]["auth_time"]
    assert claims["iat"] <= time.time() < claims["exp"] <= claims["iat"] + 600 and len(claims["jti"]) >= 32
    # Stored like any token: by its SHA-256 only, never the value.
    stored = AccessToken.objects.get(user=user, application=mail_app.client)
    assert stored.token == "" and stored.resource == [MAIL]


def test_without_resource_the_api_scopes_select_their_api(mail_app, signed_in_client):
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.send")["access_token"]
    assert verified(mail_app, token, MAIL)["scope"] == "openid mail.send"


def test_tokens_without_api_scopes_stay_opaque_for_userinfo(mail_app, signed_in_client):
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid email")["access_token"]
    assert token.count(".") != 2
    assert mail_app.userinfo(token).status_code == 200


def test_userinfo_refuses_a_token_for_an_api(mail_app, signed_in_client):
    """RFC 9068 §4: the token's audience is the API; userinfo is not it (docs/apis.md)."""
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid email mail.read")["access_token"]
    refused = mail_app.userinfo(token)
    assert refused.status_code == 401 and "invalid_token" in refused["WWW-Authenticate"]
    # A token stored before APIs had identifiers (no `resource`): its scopes still name the API.
    AccessToken.objects.filter(application=mail_app.client).update(resource=[])
    assert mail_app.userinfo(token).status_code == 401


def test_the_consent_page_shows_the_api_and_the_scope(mail_app, signed_in_client):
    page = signed_in_client.get(mail_app.authorization(scope="openid mail.read", resource=MAIL)["url"])
    assert page.status_code == 200
    assert re.search(r"<li><span class=\"api\">Mail API</span>: Read your mail</li>", page.content.decode())


def test_consent_to_an_api_scope_is_asked_again_for_a_new_one(mail_app, signed_in_client):
    mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")
    again = signed_in_client.get(mail_app.authorization(scope="openid mail.read mail.send")["url"])
    assert again.status_code == 200 and "Send mail as you" in again.content.decode()


# --- attacks and refusals ---------------------------------------------------------------------


def test_an_app_cannot_ask_for_an_api_scope_it_was_not_granted(rp, signed_in_client):
    """An attacker's app (any registered app) asks people for the Mail API's scope it was never granted."""
    api_scope("mail.read")
    grant(rp.client, "calendar.read")
    returned = rp.callback(signed_in_client.get(rp.authorization(scope="openid mail.read")["url"]))
    assert returned["error"] == "invalid_scope" and "code" not in returned
    machine_client, secret = register("Calendar sync", grant=Client.GRANT_CLIENT_CREDENTIALS)
    grant(machine_client, "calendar.read")
    refused = client_credentials(RelyingParty(machine_client, secret), scope="mail.read")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"scope": "openid mail.read", "resource": CALENDAR}, "not all the named resource's"),
        ({"scope": "openid mail.read", "resource": "https://unknown.example/api"}, "No API is registered"),
        ({"scope": "openid mail.read calendar.read"}, "more than one API"),
        ({"scope": "openid", "resource": MAIL}, "at least one scope"),
    ],
    ids=["other api", "unknown", "two apis", "no scope of it"],
)
def test_resource_mismatches_are_invalid_target(mail_app, signed_in_client, params, why):
    grant(mail_app.client, "calendar.read")
    returned = code_response(mail_app, signed_in_client, **params)
    assert returned["error"] == "invalid_target" and why in returned["error_description"]
    assert "code" not in returned and returned["iss"] == ISSUER


def test_two_resources_at_the_authorization_endpoint_are_invalid_target(mail_app, signed_in_client):
    request = mail_app.authorization(scope="openid mail.read", resource=MAIL)
    returned = mail_app.callback(signed_in_client.get(request["url"] + "&resource=" + CALENDAR))
    assert returned["error"] == "invalid_target"


def test_a_code_is_redeemed_only_for_its_own_resource(mail_app, signed_in_client):
    request = mail_app.authorization(scope="openid mail.read", resource=MAIL)
    code = mail_app.callback(approve(signed_in_client, request["url"]))["code"]
    refused = mail_app.redeem(code, request["verifier"], resource=CALENDAR)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    assert verified(mail_app, mail_app.redeem(code, request["verifier"], resource=MAIL).json()["access_token"], MAIL)


def test_the_example_verifier_refuses_api_as_token_at_api_b(mail_app, signed_in_client):
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["access_token"]
    with pytest.raises(jwt.InvalidAudienceError):
        verified(mail_app, token, CALENDAR)
    with pytest.raises(jwt.InvalidIssuerError):
        verify_access_token(token, jwks=jwks(mail_app), issuer="https://other-idp.example", audience=MAIL)


def test_an_id_token_is_refused_as_an_access_token(mail_app, signed_in_client):
    """Same keys, same issuer: only `typ` tells an ID token (aud = the app) from an access token."""
    id_token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["id_token"]
    with pytest.raises(jwt.InvalidTokenError, match="typ"):
        verified(mail_app, id_token, mail_app.client.client_id)


def test_a_forged_token_is_refused_by_the_example_verifier(mail_app, signed_in_client):
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["access_token"]
    header, payload, signature = token.split(".")
    forged = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False}), "scope": "openid mail.read mail.send"},
        "an attacker's own secret key, long enough",
        algorithm="HS256",
        headers={"typ": "at+jwt", "kid": jwt.get_unverified_header(token)["kid"]},
    )
    with pytest.raises(jwt.InvalidTokenError):
        verified(mail_app, forged, MAIL)
    with pytest.raises(jwt.InvalidSignatureError):
        verified(mail_app, f"{header}.{payload[:-4]}AAAA.{signature}", MAIL)


# --- machines ---------------------------------------------------------------------------------


def test_client_credentials_get_the_granted_api_scopes(machine):
    body = client_credentials(machine).json()
    claims = verified(machine, body["access_token"], MAIL)
    assert set(claims["scope"].split()) == {"mail.read", "mail.send"} == set(body["scope"].split())
    assert claims["sub"] == claims["client_id"] == machine.client.client_id and "roles" not in claims
    narrowed = client_credentials(machine, scope="mail.read", resource=MAIL).json()
    assert verified(machine, narrowed["access_token"], MAIL)["scope"] == "mail.read"


def test_client_credentials_with_scopes_of_two_apis_name_one(machine):
    grant(machine.client, "calendar.read")
    refused = client_credentials(machine)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    only_calendar = client_credentials(machine, resource=CALENDAR).json()
    assert verified(machine, only_calendar["access_token"], CALENDAR)["scope"] == "calendar.read"
    mismatch = client_credentials(machine, scope="mail.read", resource=CALENDAR)
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_target"


def test_a_public_client_gets_no_api_token_by_client_credentials(public_rp):
    """A public app (no secret: anyone can name its client id) granted an API scope tries to act as a machine."""
    grant(public_rp.client, "mail.read")
    refused = public_rp.token({"grant_type": "client_credentials", "scope": "mail.read"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert not AccessToken.objects.filter(application=public_rp.client).exists()


# --- introspection, revocation, refresh ---------------------------------------------------------


def test_introspection_of_another_apis_token_is_inactive(mail_app, signed_in_client, user):
    grant(mail_app.client, "calendar.read")
    mail_token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["access_token"]
    userinfo_token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid email")["access_token"]
    calendar_server = resource_server("Calendar backend", served_scopes="calendar.read")
    mail_server = resource_server("Mail backend", served_scopes="mail.read")
    assert introspect(calendar_server, mail_token).json() == {"active": False}
    assert introspect(mail_server, userinfo_token).json() == {"active": False}
    answer = introspect(mail_server, mail_token).json()
    assert answer["active"] is True and answer["aud"] == MAIL and answer["iss"] == ISSUER
    assert answer["sub"] == str(user.subject) and answer["scope"] == "openid mail.read"


def test_a_revoked_jwt_is_inactive_at_introspection(mail_app, signed_in_client):
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["access_token"]
    mail_server = resource_server("Mail backend", served_scopes="mail.read")
    assert introspect(mail_server, token).json()["active"] is True
    assert mail_app.http.post("/oauth/revoke/", {"token": token}, **mail_app.auth()).status_code == 200
    assert introspect(mail_server, token).json() == {"active": False}


def test_an_ended_session_ends_its_jwt_too(mail_app, signed_in_client):
    token = mail_app.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["access_token"]
    mail_server = resource_server("Mail backend", served_scopes="mail.read")
    signed_in_client.post("/accounts/logout/")
    assert introspect(mail_server, token).json() == {"active": False}


def test_refresh_keeps_the_audience(mail_app, signed_in_client):
    grant(mail_app.client, "calendar.read")
    body = mail_app.sign_in_and_redeem(signed_in_client, scope="openid offline_access mail.read", resource=MAIL)
    refreshed = mail_app.refresh(body["refresh_token"]).json()
    assert verified(mail_app, refreshed["access_token"], MAIL)["scope"] == "openid offline_access mail.read"
    elsewhere = mail_app.token(
        {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "resource": CALENDAR}
    )
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_target"
    again = mail_app.token(
        {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "resource": MAIL}
    ).json()
    assert verified(mail_app, again["access_token"], MAIL)["aud"] == MAIL
    narrowed_yet_named = mail_app.token(
        {"grant_type": "refresh_token", "refresh_token": again["refresh_token"], "scope": "openid", "resource": MAIL}
    )
    assert narrowed_yet_named.status_code == 400 and narrowed_yet_named.json()["error"] == "invalid_target"
    # Narrowed to no API scope: an opaque token, for userinfo.
    narrowed = mail_app.token(
        {"grant_type": "refresh_token", "refresh_token": again["refresh_token"], "scope": "openid"}
    )
    assert narrowed.status_code == 200 and mail_app.userinfo(narrowed.json()["access_token"]).status_code == 200


# --- admin ------------------------------------------------------------------------------------


def test_an_admin_grants_api_scopes_to_an_app(make_admin, machine):
    """The app's page lists the API scopes to grant; what is granted is what client credentials bring."""
    admin_browser = sign_in_admin(make_admin())
    page = admin_browser.get(f"/admin/oidc/client/{machine.client.pk}/change/").content.decode()
    assert 'name="granted_scopes"' in page and "mail.read" in page
    read = machine.client.granted_scopes.get(value="mail.read")
    response = admin_browser.post(
        f"/admin/oidc/client/{machine.client.pk}/change/",
        {
            "name": machine.client.name,
            "client_type": machine.client.client_type,
            "authorization_grant_type": machine.client.authorization_grant_type,
            "redirect_uris": "",
            "post_logout_redirect_uris": "",
            "backchannel_logout_uri": "",
            "allowed_scopes": machine.client.allowed_scopes,
            "granted_scopes": [read.pk],
            "algorithm": machine.client.algorithm,
            "_save": "Save",
            **NO_ROLES_OR_ASSIGNMENTS,
        },
    )
    assert response.status_code == 302, response.content
    assert verified(machine, client_credentials(machine).json()["access_token"], MAIL)["scope"] == "mail.read"


def test_only_a_superuser_changes_apis(make_user, machine):
    """A staff member allowed to change APIs would name their own client the Mail API's resource server and
    read every token of it; the page is read-only for them."""
    api = machine.client.granted_scopes.first().api
    staff = make_user("helpdesk@example.com", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_api", "change_api", "add_api"]))
    add_totp(staff)
    browser = sign_in_admin(staff)
    refused = browser.post(
        f"/admin/oidc/api/{api.pk}/change/",
        {
            "name": api.name,
            "identifier": api.identifier,
            "description": "",
            "resource_server": machine.client.pk,
            "algorithm": api.algorithm,
            "scopes-TOTAL_FORMS": "0",
            "scopes-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )
    assert refused.status_code == 403
    api.refresh_from_db()
    assert api.resource_server is None


def test_a_retired_key_stays_published_while_the_access_tokens_it_signed_live(settings):
    """Access tokens for APIs are signed too: a key rotated out stays in the JWKS as long as they may live."""
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ACCESS_TOKEN_EXPIRE_SECONDS": 3600}
    assert keys.retention() >= 3600 + 300
