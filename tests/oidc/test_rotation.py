"""Refresh-token rotation (oidc.rotation): DOT's semantics in a fraction of its statements.

What a thief or a confused client may try with a refresh token: present it twice, race two requests
with it, present it after its access token was deleted or it sat idle too long. And what the grant
costs: the statements it runs are pinned, so a change that brings DOT's twenty back shows up here.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from oidc import rotation
from oidc.models import TokenFamily
from tests.concurrency import run_in_parallel
from tests.oidc.relying_party import RelyingParty, register
from tests.users import PASSWORD


def test_a_refresh_runs_nine_statements(rp, signed_in_client):
    """Client, token (with its access token, person and family), the app's granted scopes, the spend
    (token, family pointer, old access token), the ID token and the two new tokens."""
    tokens = rp.sign_in_and_redeem(signed_in_client)
    with CaptureQueriesContext(connection) as queries:
        assert rp.refresh(tokens["refresh_token"]).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 9, "\n".join(statements)


def test_a_code_exchange_reads_the_code_once(rp, signed_in_client):
    """oauthlib asks for the code's scopes, nonce, PKCE challenge and redirect URI separately; DOT read
    the row for each."""
    request = rp.authorization(scope="openid email")
    response = signed_in_client.post(request["url"], {"decision": "allow"})  # the consent page's answer
    code = RelyingParty.callback(response)["code"]
    with CaptureQueriesContext(connection) as queries:
        assert rp.redeem(code, request["verifier"]).status_code == 200
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and "oidc_authorizationcode" in q["sql"]
    ]
    assert len(reads) == 1, reads


def test_spending_a_token_twice_fails_the_second_time(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    first = rotation.find(tokens["refresh_token"])
    second = rotation.find(tokens["refresh_token"])  # the same live row, read by a concurrent request
    assert rotation.spend(first.token) is True
    assert rotation.spend(second.token) is False
    assert not AccessToken.objects.filter(pk=second.token.access_token_id).exists()


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_with_one_refresh_token_end_the_family(user):
    """Whichever order they run in, one request is the replay of the other: one gets tokens, one
    invalid_grant, and the family ends, the winner's new tokens with it."""
    browser = Browser()
    assert browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    client, secret = register()
    rp = RelyingParty(client, secret)
    tokens = rp.sign_in_and_redeem(browser)

    def refresh():
        return RelyingParty(client, secret).refresh(tokens["refresh_token"])

    results = run_in_parallel([refresh, refresh])
    assert sorted(r.status_code for r in results) == [200, 400], results
    winner = next(r for r in results if r.status_code == 200).json()
    assert rp.refresh(winner["refresh_token"]).status_code == 400, "the family is revoked"
    assert rp.userinfo(winner["access_token"]).status_code == 401


def test_a_refresh_token_whose_access_token_was_deleted_is_refused(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    AccessToken.objects.filter(user__isnull=False).delete()
    refused = rp.refresh(tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_refresh_token_idle_past_its_lifetime_is_refused(rp, signed_in_client, settings):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    idle = settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=idle + 1))
    assert rp.refresh(tokens["refresh_token"]).status_code == 400
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=idle - 60))
    assert rp.refresh(tokens["refresh_token"]).status_code == 200, "inside the idle lifetime"


def test_a_refresh_for_someone_deactivated_is_refused(rp, signed_in_client, user):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert rp.refresh(tokens["refresh_token"]).status_code == 400


def test_the_rotated_token_keeps_its_family_and_the_spent_one_keeps_its_row(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    rotated = rp.refresh(tokens["refresh_token"]).json()
    spent, live = rotation.find(tokens["refresh_token"]).token, rotation.find(rotated["refresh_token"]).token
    assert spent.revoked is not None and spent.access_token_id is None
    assert live.revoked is None and live.token_family == spent.token_family
    assert AccessToken.objects.get(pk=live.access_token_id).source_refresh_token_id == spent.pk
    assert TokenFamily.objects.filter(family=live.token_family, revoked_at__isnull=True).exists()


def test_spend_unlinks_everything_that_points_at_an_access_token():
    """spend deletes the old access token by hand, so it must clear every row that refers to one (the
    ORM's collector would): a new relation to AccessToken must be added there, or this fails."""
    pointing = {
        (field.related_model, field.field.name)
        for field in AccessToken._meta.get_fields(include_hidden=True)
        if field.is_relation and field.auto_created and not field.concrete
    }
    assert pointing == {(RefreshToken, "access_token"), (TokenFamily, "access_token")}


# --- oidc.rows: what is written and read is what the ORM would write and read -----------------


def test_a_row_inserted_by_hand_is_the_row_the_orm_would_write(user, rp):
    from oauth2_provider.models import set_token_value

    from oidc import rows

    def token(value: str) -> AccessToken:
        made = AccessToken(user=user, application=rp.client, scope="openid api:read", resource=["urn:api:x"])
        made.expires = timezone.now() + timedelta(minutes=5)
        set_token_value(made, value)
        return made

    by_orm, by_hand = token("by-orm"), token("by-hand")
    by_orm.save()
    rows.insert(by_hand)
    assert by_hand.pk and not by_hand._state.adding
    stored = {row["id"]: row for row in AccessToken.objects.filter(pk__in=[by_orm.pk, by_hand.pk]).values()}
    orm, hand = stored[by_orm.pk], stored[by_hand.pk]
    assert hand["token_checksum"] == hashlib.sha256(b"by-hand").hexdigest() and hand["token"] == ""
    assert hand["created"] and hand["updated"]
    different = {"id", "token_checksum", "created", "updated", "expires"}
    assert {k: v for k, v in hand.items() if k not in different} == {k: v for k, v in orm.items() if k not in different}


def test_a_row_read_by_hand_is_the_row_the_orm_reads(rp):
    from oidc.validators import _CLIENT

    (by_hand,) = _CLIENT.one([rp.client.client_id])
    by_orm = type(rp.client).objects.get(pk=rp.client.pk)
    fields = [field.attname for field in type(by_orm)._meta.concrete_fields]
    assert [getattr(by_hand, name) for name in fields] == [getattr(by_orm, name) for name in fields]
    assert _CLIENT.one(["no-such-client"]) is None


@pytest.mark.parametrize(
    "name, value",
    [
        ("REFRESH_TOKEN_GRACE_PERIOD_SECONDS", 30),
        ("ROTATE_REFRESH_TOKEN", False),
        ("REFRESH_TOKEN_REUSE_PROTECTION", False),
    ],
)
def test_dot_settings_rotation_would_ignore_stop_the_start(settings, name, value):
    """oidc.rotation has no grace period and always rotates and revokes: a setting saying otherwise
    would be honoured by nothing, so it is an error, not a silent change."""
    from oidc.checks import refresh_rotation_settings

    assert refresh_rotation_settings() == []
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, name: value}
    (error,) = refresh_rotation_settings()
    assert error.id == "oidc.E002" and name in error.msg
