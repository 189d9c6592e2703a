"""Migration oidc 0007: resource servers and scopes as they were (Client.is_resource_server and
served_scopes, the OIDC_API_SCOPES setting) become APIs, and an existing resource server keeps
introspecting the tokens it did, old opaque ones and new JWTs alike (docs/apis.md, "Moving from")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from oidc.models import Api, Client
from tests.oidc.relying_party import REDIRECT_URI, SECRET, RelyingParty
from tests.oidc.test_review_findings import introspect

BEFORE = [("oidc", "0005_client_authorization")]


def migrate(targets=None):
    """To `targets`, or (none given) forward to the newest migration of every app: the schema today's
    models and the tests after this one expect."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_an_existing_resource_server_keeps_working_after_the_move(monkeypatch, user):
    old = migrate(BEFORE)
    OldClient = old.get_model("oidc", "Client")
    server = OldClient.objects.create(
        name="Mail backend",
        client_type="confidential",
        authorization_grant_type="client-credentials",
        client_secret=SECRET,
        is_resource_server=True,
        served_scopes="mail.read openid",  # openid: a row saved before review R8's rule
    )
    webmail = OldClient.objects.create(
        name="Webmail",
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT_URI,
        client_secret=SECRET,
        allowed_scopes="openid email offline_access mail.read calendar.read",
    )
    # (today's model: the token table is not oidc's; only its row matters)
    before = AccessToken(
        application_id=webmail.pk, user=user, scope="openid mail.read", expires=timezone.now() + timedelta(minutes=5)
    )
    set_token_value(before, "an-opaque-token-from-before")
    before.save()
    monkeypatch.setenv("OIDC_API_SCOPES", '{"mail.read": "Read your mail", "calendar.read": "See your calendar"}')
    migrate()

    mail_api = Api.objects.get(resource_server_id=server.pk)
    assert mail_api.identifier == f"urn:identity:api:{server.client_id}"
    assert [(scope.value, scope.description) for scope in mail_api.scopes.all()] == [("mail.read", "Read your mail")]
    leftover = Api.objects.get(identifier="urn:identity:api:oidc-api-scopes")
    assert [scope.value for scope in leftover.scopes.all()] == ["calendar.read"] and leftover.resource_server is None
    webmail = Client.objects.get(pk=webmail.pk)
    assert webmail.allowed_scopes == "openid email offline_access"
    assert sorted(webmail.granted_scopes.values_list("value", flat=True)) == ["calendar.read", "mail.read"]

    resource_server = RelyingParty(Client.objects.get(pk=server.pk), SECRET)
    assert resource_server.client.is_resource_server
    answer = introspect(resource_server, "an-opaque-token-from-before").json()
    assert answer["active"] is True and answer["aud"] == mail_api.identifier
