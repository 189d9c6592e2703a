"""Review R8: a resource server serves only scopes an API defines (OIDC_API_SCOPES), never OpenID
Connect's own, which every app's tokens carry: serving `openid` would open every app's sign-in tokens
to introspection (whose they are, for which app, how long they live) and let the server accept tokens
never meant for it (token confusion, RFC 9700 §2.3).

Introspection goes through the real endpoint (Django's test client, PostgreSQL, Redis); registration
through the model's validation, `register_client` and the admin.
"""

from __future__ import annotations

import io

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import CommandError, call_command

from identity.env import env
from oidc.checks import api_scopes_usable
from oidc.models import Client
from tests.oidc.relying_party import RelyingParty
from tests.oidc.test_review_findings import add_resource_server_in_admin, introspect, resource_server
from tests.users import sign_in_admin

pytestmark = pytest.mark.django_db

OIDC_OWN = ["openid", "email", "profile", "offline_access"]
NOT_SERVED = "no resource server serves it"


def test_a_resource_server_serving_openid_learns_nothing_about_every_apps_sign_in_token(rp, signed_in_client, user):
    """Relying app registered as a resource server (an admin or `register_client --introspect --serves
    openid` allowed it: only offline_access is refused). Every access token carries `openid`, so this
    "scope it serves" opens every app's sign-in-only tokens: whose they are (sub), for which client, how
    long they live. `openid` names no API: no resource server serves it (like offline_access)."""
    login_only = rp.sign_in_and_redeem(signed_in_client, scope="openid")["access_token"]
    try:
        scanner = resource_server("Any API", served_scopes="openid")
    except ValidationError:
        return  # refused at registration: the fix
    answer = introspect(scanner, login_only).json()
    assert answer == {"active": False}, f"a resource server serving `openid` reads another app's token: {answer}"


def test_openid_is_not_a_scope_a_resource_server_can_serve():
    client = Client(
        name="Any API",
        client_type=Client.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS,
        is_resource_server=True,
        served_scopes="openid",
    )
    with pytest.raises(ValidationError):
        client.full_clean()


@pytest.mark.parametrize("scope", OIDC_OWN)
def test_no_openid_connect_scope_can_be_served(scope):
    with pytest.raises(ValidationError) as refused:
        resource_server("Any API", served_scopes=f"mail.read {scope}")
    [message] = refused.value.message_dict["served_scopes"]
    assert message.startswith(scope) and NOT_SERVED in message and "OIDC_API_SCOPES" in message


@pytest.mark.parametrize("scope", OIDC_OWN)
def test_a_row_saved_before_the_rule_serves_no_openid_connect_scope(rp, signed_in_client, scope):
    """A resource server saved before the rule (validation is not run on save) still learns nothing
    through OpenID Connect's scopes; the API scope it also serves keeps working."""
    rp.client.allowed_scopes += " mail.read"
    rp.client.save()
    tokens = {
        "sign-in only": rp.sign_in_and_redeem(signed_in_client, scope=" ".join(OIDC_OWN))["access_token"],
        "mail": rp.sign_in_and_redeem(signed_in_client, scope="openid mail.read")["access_token"],
    }
    secret = "an old API's secret 0123456789"
    old_api = Client(
        name="Old API",
        client_type=Client.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Client.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        is_resource_server=True,
        served_scopes=f"{scope} mail.read",
    )
    old_api.save()  # no full_clean: as it was stored before
    old_api = RelyingParty(old_api, secret)
    assert introspect(old_api, tokens["sign-in only"]).json() == {"active": False}
    assert introspect(old_api, tokens["mail"]).json()["active"] is True


def test_register_client_and_the_admin_say_why_openid_is_refused(make_admin):
    with pytest.raises(CommandError, match=f"served_scopes: openid .*{NOT_SERVED}"):
        call_command(
            "register_client",
            "--name",
            "Any API",
            "--machine",
            "--introspect",
            "--serves",
            "openid",
            stdout=io.StringIO(),
        )
    admin_browser = sign_in_admin(make_admin())
    refused = add_resource_server_in_admin(admin_browser, "Any API", "openid")
    assert refused.status_code == 200 and NOT_SERVED in refused.content.decode()
    assert not Client.objects.filter(name="Any API").exists()


def refusal(monkeypatch, settings, value: str) -> str:
    """What stops the start with OIDC_API_SCOPES=value: reading it (not JSON), or oidc.E002's check."""
    monkeypatch.setenv("OIDC_API_SCOPES", value)
    try:
        settings.OIDC_API_SCOPES = env.json("OIDC_API_SCOPES", default={})  # as identity/settings.py reads it
    except ImproperlyConfigured as error:
        return str(error)
    return " ".join(f"{error.id}: {error.msg}" for error in api_scopes_usable())


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "OIDC_API_SCOPES must be JSON"),
        ('["mail.read"]', "oidc.E002: OIDC_API_SCOPES must be a JSON object"),
        ('{"mail.read": ""}', "oidc.E002: OIDC_API_SCOPES must be a JSON object"),
        ('{"openid": "Sign in"}', "oidc.E002: OIDC_API_SCOPES: 'openid' is an OpenID Connect scope"),
        ('{"mail read": "Read your mail"}', "oidc.E002: OIDC_API_SCOPES: 'mail read' is not a valid scope name"),
    ],
)
def test_a_bad_oidc_api_scopes_setting_is_a_clear_configuration_error(monkeypatch, settings, value, problem):
    assert problem in refusal(monkeypatch, settings, value)


def test_api_scopes_are_offered_with_their_descriptions(monkeypatch, settings):
    assert refusal(monkeypatch, settings, '{"mail.read": "Read your mail"}') == ""
    assert settings.OIDC_API_SCOPES == {"mail.read": "Read your mail"}
    monkeypatch.delenv("OIDC_API_SCOPES")
    assert env.json("OIDC_API_SCOPES", default={}) == {}
    # the test settings' two (tests/settings.py), offered with what the consent page says of them
    assert django_settings.OAUTH2_PROVIDER["SCOPES"]["calendar.read"] == "See your calendar"
