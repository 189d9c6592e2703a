"""Review R8: a resource server serves only scopes an API defines (oidc.models.ApiScope), never OpenID
Connect's own, which every app's tokens carry: serving `openid` would open every app's sign-in tokens
to introspection (whose they are, for which app, how long they live) and let the server accept tokens
never meant for it (token confusion, RFC 9700 §2.3).

Introspection goes through the real endpoint (Django's test client, PostgreSQL, Redis); registration
through the model's validation, `register_client` and the admin.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from oidc.checks import api_scopes_setting_retired
from oidc.models import Api, ApiScope, Client
from tests.oidc.apis import api_scope, grant, register_api, resource_server
from tests.oidc.relying_party import RelyingParty
from tests.oidc.test_review_findings import add_resource_server_in_admin, introspect
from tests.users import sign_in_admin

pytestmark = pytest.mark.django_db

OIDC_OWN = ["openid", "email", "profile", "offline_access"]
NOT_SERVED = "no resource server serves it"


def test_a_resource_server_serving_openid_learns_nothing_about_every_apps_sign_in_token(rp, signed_in_client, user):
    """A resource server whose API would own `openid` (the old `register_client --introspect --serves
    openid` allowed it: only offline_access was refused). Every access token carries `openid`, so this
    "scope it serves" opens every app's sign-in-only tokens: whose they are (sub), for which client, how
    long they live. `openid` names no API: no resource server serves it (like offline_access)."""
    login_only = rp.sign_in_and_redeem(signed_in_client, scope="openid")["access_token"]
    try:
        scanner = resource_server("Any API", served_scopes="openid")
    except ValidationError:
        return  # refused at registration: the fix
    answer = introspect(scanner, login_only).json()
    assert answer == {"active": False}, f"a resource server serving `openid` reads another app's token: {answer}"


def test_openid_is_not_a_scope_a_resource_server_can_serve(db):
    api = register_api("Any API", "https://any.example/api")
    with pytest.raises(ValidationError):
        ApiScope(api=api, value="openid", description="Sign in").full_clean()


@pytest.mark.parametrize("scope", OIDC_OWN)
def test_no_openid_connect_scope_can_be_served(scope):
    with pytest.raises(ValidationError) as refused:
        resource_server("Any API", served_scopes=f"mail.read {scope}")
    [message] = refused.value.message_dict["value"]
    assert message.startswith(scope) and NOT_SERVED in message and "scopes of its own" in message


@pytest.mark.parametrize("scope", OIDC_OWN)
def test_a_row_saved_before_the_rule_serves_no_openid_connect_scope(rp, signed_in_client, scope):
    """A resource server saved before the rule (validation is not run on save) still learns nothing
    through OpenID Connect's scopes; the API scope it also serves keeps working."""
    grant(rp.client, "mail.read")
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
    )
    old_api.save()
    mail_api = api_scope("mail.read").api
    mail_api.resource_server = old_api
    mail_api.save()
    ApiScope(api=mail_api, value=scope, description=scope).save()  # no full_clean: as it was stored before
    old_api = RelyingParty(old_api, secret)
    assert introspect(old_api, tokens["sign-in only"]).json() == {"active": False}
    assert introspect(old_api, tokens["mail"]).json()["active"] is True


def test_register_client_and_the_admin_say_why_openid_is_refused(make_admin):
    """An API scope named like OpenID Connect's is refused in the admin, where scopes are declared now
    (`register_client --serves` names an API registered there)."""
    admin_browser = sign_in_admin(make_admin())
    refused, _ = add_resource_server_in_admin(admin_browser, "Any API", "https://any.example/api", "openid")
    assert refused.status_code == 200 and NOT_SERVED in refused.content.decode()
    assert not Api.objects.filter(name="Any API").exists()


def test_the_retired_oidc_api_scopes_setting_is_a_warning_when_left_set(monkeypatch):
    """APIs moved into the admin (migration oidc 0007 read OIDC_API_SCOPES once): left set, it would
    look as if it still decided something."""
    monkeypatch.delenv("OIDC_API_SCOPES", raising=False)
    assert api_scopes_setting_retired() == []
    monkeypatch.setenv("OIDC_API_SCOPES", '{"mail.read": "Read your mail"}')
    [warning] = api_scopes_setting_retired()
    assert warning.id == "oidc.W001" and "admin" in warning.msg
