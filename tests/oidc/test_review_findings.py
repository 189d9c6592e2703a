"""Issue 13 section 6: what a security review and an independent client found in the OAuth details.

Each test plays the attacker (or the strict client) against the real token, introspection and
readiness endpoints, on PostgreSQL and Redis:

- a code redeemed without the `redirect_uri` its authorization request named (RFC 6749 §4.1.3);
- introspection by clients that are not resource servers, and of tokens outside a resource server's
  scopes (RFC 7662 §2.2, §4);
- `offline_access` (OpenID Connect Core 11): a refresh token only when asked for and consented to;
- a missing or unreadable signing keyset: a startup error and a `/readyz` failure, never a 500.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client as Browser
from oauth2_provider.models import RefreshToken

from identity import health
from oidc import keys
from oidc.models import Api, AuthorizationCode, Client, TokenFamily
from tests.identity.test_operations import production_env
from tests.oidc.apis import grant, register_api, resource_server
from tests.oidc.relying_party import REDIRECT_URI, RelyingParty, approve, register, register_client
from tests.oidc.test_admin_and_commands import ADD, form_data, shown_credentials
from tests.processes import free_port, gunicorn_refusal
from tests.users import sign_in_admin

ORIGINAL_KEYS_FILE = django_settings.OIDC_KEYS_FILE
API_ADD = "/admin/oidc/api/add/"


def authorize(rp: RelyingParty, browser, **overrides) -> tuple[str, dict]:
    """A code for `rp`, through consent; returns the code and the request it answered."""
    request = rp.authorization(**overrides)
    returned = rp.callback(approve(browser, request["url"]))
    return returned["code"], request


# --- redirect_uri at the token endpoint ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["confidential", "public"])
def test_code_without_redirect_uri_is_invalid_grant(signed_in_client, kind):
    """The app has exactly one registered URI, so oauthlib would fill it in: the attacker (or a sloppy
    client) must still repeat the redirect_uri the authorization request named."""
    client_type = Client.CLIENT_CONFIDENTIAL if kind == "confidential" else Client.CLIENT_PUBLIC
    client, secret = register(f"One URI ({kind})", client_type=client_type)
    rp = RelyingParty(client, secret)
    code, request = authorize(rp, signed_in_client)
    refused = rp.token({"grant_type": "authorization_code", "code": code, "code_verifier": request["verifier"]})
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"] == "invalid_grant"
    assert "access_token" not in refused.json()
    # The refusal spends nothing: the rightful exchange, with the redirect_uri, still works once.
    assert AuthorizationCode.objects.filter(code=code).exists()
    assert rp.redeem(code, request["verifier"]).status_code == 200


@pytest.fixture
def two_uris(db) -> RelyingParty:
    client, secret = register_client(
        f"{REDIRECT_URI} https://rp.example/second", name="Two URIs", client_type=Client.CLIENT_CONFIDENTIAL
    )
    return RelyingParty(client, secret)


@pytest.mark.parametrize("redirect_uri", [None, "https://rp.example/second"], ids=["missing", "another registered"])
def test_code_with_another_or_no_redirect_uri_is_invalid_grant(signed_in_client, two_uris, redirect_uri):
    code, request = authorize(two_uris, signed_in_client)
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": request["verifier"]}
    if redirect_uri:
        data["redirect_uri"] = redirect_uri  # registered, but not the one this code was issued for
    refused = two_uris.token(data)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"  # RFC 6749 §5.2
    assert two_uris.redeem(code, request["verifier"]).status_code == 200


# --- introspection: resource servers only, and only for the scopes they serve --------------------


def introspect(caller: RelyingParty, token: str, **headers):
    # As a resource server posts: no cookies, no CSRF token (the endpoint must not ask for one).
    http = Browser(enforce_csrf_checks=True)
    return http.post("/oauth/introspect/", {"token": token}, **{**caller.auth(), **headers})


@pytest.fixture
def someones_token(rp, signed_in_client) -> str:
    """An access token the person gave `rp`, for `openid email` and the Mail API's `mail.read`."""
    grant(rp.client, "mail.read")
    return rp.sign_in_and_redeem(signed_in_client, scope="openid email mail.read")["access_token"]


@pytest.mark.parametrize("grant", [Client.GRANT_AUTHORIZATION_CODE, Client.GRANT_CLIENT_CREDENTIALS])
def test_a_plain_confidential_client_cannot_introspect_someones_token(someones_token, user, grant):
    """Any app with a secret used to learn whose token it held and what it allowed (token scanning,
    RFC 7662 §4). A client that is not a resource server is refused outright."""
    client, secret = register("Curious app", grant=grant)
    curious = RelyingParty(client, secret)
    refused = introspect(curious, someones_token)
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"] == "unauthorized_client"
    assert "active" not in refused.json() and str(user.subject) not in refused.content.decode()


def test_the_app_that_holds_the_token_cannot_introspect_it_either(rp, someones_token):
    refused = introspect(rp, someones_token)
    assert refused.status_code == 403 and "active" not in refused.json()


def test_a_resource_server_is_not_told_about_a_token_outside_its_scopes(someones_token, user):
    """RFC 7662 §2.2: a token the caller "is not allowed to introspect" is reported inactive, exactly
    like a token that does not exist, so the answer tells nothing about it."""
    calendar_api = resource_server("Calendar API", served_scopes="calendar.read")
    answer = introspect(calendar_api, someones_token)
    assert answer.status_code == 200 and answer.json() == {"active": False}
    assert introspect(calendar_api, "no-such-token").json() == {"active": False}

    mail_api = resource_server("Mail API", served_scopes="mail.read")
    answer = introspect(mail_api, someones_token).json()
    assert answer["active"] is True and answer["sub"] == str(user.subject)


def test_introspection_takes_the_client_that_authenticated_not_the_one_named_first(someones_token):
    """HTTP Basic naming a resource server with a wrong secret, and a plain client's own valid credentials
    in the body: DOT falls back to the body, so the body's client is the caller, and it is refused."""
    api = resource_server()
    client, secret = register("Curious app")
    forged = base64.b64encode(f"{api.client.client_id}:wrong".encode()).decode()
    response = api.http.post(
        "/oauth/introspect/",
        {"token": someones_token, "client_id": client.client_id, "client_secret": secret},
        HTTP_AUTHORIZATION=f"Basic {forged}",
    )
    assert response.status_code == 403 and "active" not in response.json()


def test_a_bearer_token_is_no_way_into_introspection(someones_token):
    """DOT would also let a bearer token with the `introspection` scope in; Identity wants a resource
    server's own credentials."""
    response = RelyingParty(resource_server().client, None).http.post(
        "/oauth/introspect/", {"token": someones_token}, HTTP_AUTHORIZATION=f"Bearer {someones_token}"
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("make", "field", "message"),
    [
        (
            lambda: register_api(
                "Bad API", "https://bad.example", resource_server=register("SPA", client_type=Client.CLIENT_PUBLIC)[0]
            ),
            "resource_server",
            "confidential",
        ),
        (lambda: register("Bad app", allowed_scopes="openid payroll"), "allowed_scopes", "Unknown scopes: payroll"),
        (
            lambda: register_api("Bad API", "https://bad.example", {"offline_access": "Keep access"}),
            "value",
            "no resource server serves it",
        ),
    ],
    ids=["public resource server", "unknown scope", "offline_access"],
)
def test_a_resource_server_must_be_confidential_and_name_known_scopes(db, make, field, message):
    """Moved onto APIs (docs/apis.md): the scopes a resource server serves are its API's, each declared
    there, so "name the scopes" and "only a resource server serves scopes" have nothing left to check."""
    with pytest.raises(ValidationError) as refused:
        make()
    assert any(message in text for text in refused.value.message_dict[field])


def test_register_client_serves_makes_a_resource_server_that_can_introspect(someones_token, user):
    out = io.StringIO()
    call_command(
        "register_client",
        "--name",
        "Mail API",
        "--machine",
        "--serves",
        "https://mail.example/api",
        "--json",
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    client = Client.objects.get(client_id=printed["client_id"])
    assert client.is_resource_server and list(client.apis_served.values_list("scopes__value", flat=True)) == [
        "mail.read"
    ]
    answer = introspect(RelyingParty(client, printed["client_secret"]), someones_token)
    assert answer.status_code == 200 and answer.json()["sub"] == str(user.subject)
    with pytest.raises(CommandError, match="serves: No API is registered as https://nothing.example"):
        call_command(
            "register_client",
            "--name",
            "No API",
            "--machine",
            "--serves",
            "https://nothing.example",
            stdout=io.StringIO(),
        )
    with pytest.raises(CommandError, match="must be a confidential client"):
        call_command(
            "register_client",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            REDIRECT_URI,
            "--serves",
            "https://mail.example/api",
            stdout=io.StringIO(),
        )


def add_resource_server_in_admin(admin_browser: Browser, name: str, identifier: str, scope: str):
    """A machine client, then an API naming it as its resource server, with one scope (two admin pages)."""
    response = admin_browser.post(
        ADD, form_data(name=name, authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS, redirect_uris="")
    )
    credentials = shown_credentials(response.content.decode())
    client = Client.objects.get(client_id=credentials[0][0]) if credentials else None
    added = admin_browser.post(
        API_ADD,
        {
            "name": name,
            "identifier": identifier,
            "description": "",
            "resource_server": client.pk if client else "",
            "algorithm": "ES256",
            "scopes-TOTAL_FORMS": "1",
            "scopes-INITIAL_FORMS": "0",
            "scopes-0-value": scope,
            "scopes-0-description": f"Use {scope}",
            "_save": "Save",
        },
    )
    return added, credentials


def test_admin_marks_a_resource_server(make_admin, rp, signed_in_client):
    admin_browser = sign_in_admin(make_admin())
    response, [(client_id, secret)] = add_resource_server_in_admin(
        admin_browser, "Notes API", "https://notes.example/api", "notes.read"
    )
    assert response.status_code == 302, response.content
    client = Client.objects.get(client_id=client_id)
    api = Api.objects.get(identifier="https://notes.example/api")
    assert client.is_resource_server and api.resource_server == client
    assert [scope.value for scope in api.scopes.all()] == ["notes.read"]
    grant(rp.client, "notes.read")
    token = rp.sign_in_and_redeem(signed_in_client, scope="openid notes.read")["access_token"]
    assert introspect(RelyingParty(client, secret), token).json()["active"] is True
    page = admin_browser.get(f"/admin/oidc/api/{api.pk}/change/").content.decode()
    assert 'name="resource_server"' in page and 'name="scopes-0-value"' in page
    spa, _ = register("SPA", client_type=Client.CLIENT_PUBLIC)
    refused = admin_browser.post(
        f"/admin/oidc/api/{api.pk}/change/",
        {
            "name": "Mail API",
            "identifier": "https://mail.example/api",
            "description": "",
            "resource_server": spa.pk,
            "algorithm": "ES256",
            "scopes-TOTAL_FORMS": "0",
            "scopes-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )
    assert refused.status_code == 200 and b"Select a valid choice" in refused.content  # only confidential ones


# --- offline_access: a refresh token only when asked for and consented to -------------------------

WITHOUT_OFFLINE = "openid email profile"
WITH_OFFLINE = "openid email profile offline_access"
KEEP_ACCESS = b"Keep access while you are away"


def test_discovery_advertises_offline_access_and_how_resource_servers_introspect(client):
    discovery = client.get("/.well-known/openid-configuration").json()
    assert "offline_access" in discovery["scopes_supported"]
    assert discovery["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]


def test_offline_access_with_consent_brings_a_refresh_token(rp, signed_in_client, user):
    """The libraries that ask for offline_access used to get invalid_scope; now the person is asked
    (the consent page says so) and the app gets a refresh token that works."""
    request = rp.authorization(scope=WITH_OFFLINE)
    page = signed_in_client.get(request["url"])
    assert page.status_code == 200 and KEEP_ACCESS in page.content
    returned = rp.callback(signed_in_client.post(request["url"], {"decision": "allow"}))
    tokens = rp.redeem(returned["code"], request["verifier"]).json()
    assert "offline_access" in tokens["scope"].split()
    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200 and "refresh_token" in refreshed.json()
    assert rp.id_claims(refreshed.json()["id_token"])["sub"] == str(user.subject)


def test_without_offline_access_there_is_no_refresh_token(rp, signed_in_client):
    body = rp.sign_in_and_redeem(signed_in_client, scope=WITHOUT_OFFLINE)
    assert "refresh_token" not in body and body["access_token"] and body["id_token"]
    assert rp.userinfo(body["access_token"]).status_code == 200
    assert RefreshToken.objects.count() == 0  # not issued, not even stored


def test_offline_access_cannot_be_added_at_the_token_endpoint(rp, signed_in_client):
    code, request = authorize(rp, signed_in_client, scope=WITHOUT_OFFLINE)
    tokens = rp.redeem(code, request["verifier"], scope=WITH_OFFLINE)
    assert tokens.status_code == 200 and "refresh_token" not in tokens.json()
    assert "offline_access" not in tokens.json()["scope"].split()


def test_an_earlier_consent_without_offline_access_does_not_cover_it(rp, signed_in_client):
    rp.sign_in_and_redeem(signed_in_client, scope=WITHOUT_OFFLINE)
    request = rp.authorization(scope=WITH_OFFLINE)
    page = signed_in_client.get(request["url"])
    assert page.status_code == 200 and KEEP_ACCESS in page.content  # asked again, for offline access
    silent = rp.callback(signed_in_client.get(rp.authorization(scope=WITH_OFFLINE, prompt="none")["url"]))
    assert silent["error"] == "consent_required" and "code" not in silent
    declined = rp.callback(signed_in_client.post(request["url"], {"decision": "deny"}))
    assert declined["error"] == "access_denied" and "code" not in declined


@pytest.mark.parametrize(("scope", "refresh"), [(WITH_OFFLINE, True), (WITHOUT_OFFLINE, False)])
def test_a_first_party_app_gets_a_refresh_token_when_it_asks(signed_in_client, scope, refresh):
    client, secret = register("Own app", skip_authorization=True)
    own = RelyingParty(client, secret)
    response = signed_in_client.get(own.authorization(scope=scope)["url"])
    assert response.status_code == 302  # no consent page for a first-party app
    assert ("refresh_token" in own.sign_in_and_redeem(signed_in_client, scope=scope)) is refresh


def test_apps_registered_before_keep_their_refresh_tokens(signed_in_client):
    client, secret = register("Old app", refresh_without_offline_access=True)
    old = RelyingParty(client, secret)
    body = old.sign_in_and_redeem(signed_in_client, scope=WITHOUT_OFFLINE)
    assert old.refresh(body["refresh_token"]).status_code == 200


def test_the_migration_keeps_what_existing_apps_had(db):
    """Migration 0004: apps registered before get refresh tokens as before and may ask for offline_access."""
    from django.apps import apps

    migration = importlib.import_module("oidc.migrations.0004_offline_access")
    web, _ = register("Web app", allowed_scopes="openid email")
    machine, _ = register("Batch", grant=Client.GRANT_CLIENT_CREDENTIALS, allowed_scopes="openid")
    migration.keep_what_existing_apps_had(apps, None)
    web.refresh_from_db()
    machine.refresh_from_db()
    assert web.refresh_without_offline_access and web.allowed_scopes == "openid email offline_access"
    assert machine.refresh_without_offline_access and machine.allowed_scopes == "openid"
    migration.forget_offline_access(apps, None)
    web.refresh_from_db()
    assert web.allowed_scopes == "openid email"
    new, _ = register("New app")
    assert not new.refresh_without_offline_access and "offline_access" in new.allowed_scopes.split()


def test_a_machine_cannot_ask_for_offline_access(db):
    client, secret = register("Batch", grant=Client.GRANT_CLIENT_CREDENTIALS)
    refused = RelyingParty(client, secret).token({"grant_type": "client_credentials", "scope": "offline_access"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_a_token_without_a_refresh_token_is_still_revoked_with_its_session(rp, signed_in_client):
    """No refresh token, but the code exchange still has its family: sign-out, "remove access" and a
    replayed code revoke the access token as they revoke a refresh-token family."""
    code, request = authorize(rp, signed_in_client, scope=WITHOUT_OFFLINE)
    tokens = rp.redeem(code, request["verifier"]).json()
    family = TokenFamily.objects.get(client=rp.client)
    assert family.access_token is not None and family.session_ref
    assert rp.redeem(code, request["verifier"]).json()["error"] == "invalid_grant"  # replayed
    assert rp.userinfo(tokens["access_token"]).status_code == 401

    tokens = rp.sign_in_and_redeem(signed_in_client, scope=WITHOUT_OFFLINE)
    assert rp.userinfo(tokens["access_token"]).status_code == 200
    signed_in_client.post("/accounts/logout/")
    assert rp.userinfo(tokens["access_token"]).status_code == 401


# --- a missing or unreadable signing keyset: a startup error and a readiness failure, never a 500 ---

ROOT = Path(__file__).resolve().parents[2]
NO_KEY = "No OpenID Connect signing key"


@pytest.fixture(params=["missing", "a directory", "not JSON", "no active key"])
def broken_keyset(request, tmp_path) -> tuple[Path, str]:
    """A keys file that cannot be used, and the words the error must say."""
    path = tmp_path / "keys" / "oidc-keys.json"
    if request.param == "missing":
        return path, NO_KEY
    path.parent.mkdir()
    if request.param == "a directory":  # root reads any file: a directory is what cannot be read here
        path.mkdir()
        return path, "cannot be read: Is a directory"
    if request.param == "not JSON":
        path.write_text('{"keys": [{"pem": "-----BEGIN PRIVATE KEY-----\\nMIIE')
        return path, "is not a valid keyset"
    path.write_text(json.dumps({"keys": [{**keys.new_key_entry("RS256"), "retired": int(time.time())}]}))
    return path, "no active (unretired) key"


@pytest.fixture
def without_keyset(settings, broken_keyset) -> str:
    path, words = broken_keyset
    settings.DEBUG = False
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(path)
    return words


def test_check_deploy_fails_without_a_usable_keyset(broken_keyset):
    path, words = broken_keyset
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=production_env(OIDC_KEYS_FILE=str(path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "oidc.E001" in output and words in output and "rotate_signing_key" in output, output
    assert "BEGIN PRIVATE KEY" not in output and "MIIE" not in output


@pytest.mark.processes
def test_gunicorn_does_not_start_without_a_keyset(tmp_path):
    """The review's production start: no key, yet gunicorn served and the first token request was a 500."""
    port = free_port()
    env = production_env(
        OIDC_KEYS_FILE=str(tmp_path / "missing.json"),
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        SECURE_SSL_REDIRECT="0",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    returncode, text = gunicorn_refusal(env, tmp_path / "gunicorn.log", ROOT)  # None: it served (the old behaviour)
    assert returncode is not None and returncode != 0
    assert "oidc.E001" in text and NO_KEY in text, text[-3000:]


def test_the_startup_check_passes_with_a_keyset_and_in_development(settings, tmp_path):
    health.refuse_to_start_misconfigured()  # the test keyset
    settings.DEBUG = True
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(tmp_path / "dev-keys.json")
    health.refuse_to_start_misconfigured()  # development: generated on first use, as before
    assert not (tmp_path / "dev-keys.json").exists()


def test_readyz_names_the_keyset_problem(db, client, without_keyset, settings):
    response = client.get("/readyz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["checks"]["database"] == "ok"
    assert body["checks"]["signing_keys"].startswith("error: ") and without_keyset in body["checks"]["signing_keys"]
    assert settings.OIDC_KEYS_FILE not in response.content.decode()  # the public probe shows no path


def test_a_token_request_without_a_keyset_is_503_and_the_code_survives(rp, signed_in_client, without_keyset, settings):
    code, request = authorize(rp, signed_in_client)
    working_keyset = settings.OIDC_KEYS_FILE
    refused = rp.redeem(code, request["verifier"])
    assert refused.status_code == 503, refused.content
    assert refused.json()["error"] == "temporarily_unavailable" and "Retry-After" in refused
    # The JWKS still publishes a retired key (its tokens may still be checked); with no keys at all, 503.
    jwks = rp.http.get("/oauth/jwks/")
    assert jwks.status_code == (200 if "no active" in without_keyset else 503)
    settings.OIDC_KEYS_FILE = ORIGINAL_KEYS_FILE  # the operator fixes it
    assert working_keyset != ORIGINAL_KEYS_FILE
    assert rp.redeem(code, request["verifier"]).status_code == 200


def test_an_id_token_hint_that_cannot_be_checked_names_no_one(settings, signed_in_client, tmp_path):
    """Logout and prompt=none read an ID token hint with the keyset: without one, the hint names no one
    (the logout link is refused as for any hint we cannot check; the app gets login_required), never a 500."""
    client, secret = register("Notes", post_logout_redirect_uris="https://rp.example/bye")
    rp = RelyingParty(client, secret)
    hint = rp.sign_in_and_redeem(signed_in_client)["id_token"]
    settings.DEBUG = False
    settings.OIDC_SIGNING_KEYS = ""
    settings.OIDC_KEYS_FILE = str(tmp_path / "gone.json")
    silent = rp.callback(signed_in_client.get(rp.authorization(prompt="none", id_token_hint=hint)["url"]))
    assert silent["error"] == "login_required" and "code" not in silent
    logout = signed_in_client.get(
        "/oauth/logout/",
        {"id_token_hint": hint, "client_id": client.client_id, "post_logout_redirect_uri": "https://rp.example/bye"},
    )
    assert logout.status_code == 400 and b"This sign-out link is not valid" in logout.content
    assert signed_in_client.get("/accounts/security/").status_code == 200
