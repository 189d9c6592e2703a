"""The directory in tokens: `roles` and `groups`, read by an independent client (authlib verifying the
real ID token against the published JWKS), and "assignment required" at the authorization and token
endpoints. Real PostgreSQL and Redis, Django's test client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.models import SecurityEvent
from directory.models import Assignment
from identity.metrics import AUTHORIZATION_REFUSALS
from tests.directory.directory import app, assign, group, role, signed_in, tokens
from tests.oidc.relying_party import REDIRECT_URI, sign_in_with_password

pytestmark = pytest.mark.django_db


def test_roles_are_the_apps_own_held_directly_and_through_groups(user, make_user):
    wiki = app("Wiki", "editor", "reader", "owner")
    payroll = app("Payroll", "admin")
    assign(wiki, user, "editor")
    assign(wiki, group("Staff", user, make_user("bob@example.com")), "reader")
    assign(payroll, user, "admin")

    body = tokens(wiki, signed_in(user.email))

    assert body["claims"]["roles"] == ["editor", "reader"]
    assert wiki.userinfo(body["access_token"]).json()["roles"] == ["editor", "reader"]


def test_another_apps_role_never_appears_even_in_an_assignment_to_this_app(user):
    """An assignment row that names this app with another app's role (a bug, a script skipping
    clean()) still brings only this app's roles."""
    wiki = app("Wiki", "reader")
    payroll = app("Payroll", "admin")
    Assignment.objects.create(app=wiki.client, role=role(payroll, "admin"), user=user)

    assert tokens(wiki, signed_in(user.email))["claims"]["roles"] == []


def test_no_roles_without_the_roles_scope(user):
    wiki = app("Wiki", "editor", groups_claim=True)
    assign(wiki, group("Staff", user), "editor")

    claims = tokens(wiki, signed_in(user.email), scope="openid email")["claims"]

    assert "roles" not in claims and "groups" not in claims


def test_groups_are_stable_ids_that_a_rename_does_not_change(user):
    wiki = app("Wiki", groups_claim=True)
    staff, admins = group("Staff", user), group("Admins", user)
    browser = signed_in(user.email)
    first = tokens(wiki, browser)["claims"]["groups"]

    staff.display_name = "Admins"  # an attacker naming a group after another one
    staff.save()
    admins.display_name = "Everyone"
    admins.save()
    again = tokens(wiki, browser)["claims"]["groups"]

    assert first == again == sorted([str(staff.pk), str(admins.pk)])


def test_groups_only_for_apps_that_ask_for_them(user):
    wiki = app("Wiki")
    group("Staff", user)
    assert "groups" not in tokens(wiki, signed_in(user.email))["claims"]


def test_too_many_groups_leave_an_overage_marker_and_userinfo_has_them_all(user, settings):
    settings.DIRECTORY_GROUPS_CLAIM_LIMIT = 2
    wiki = app("Wiki", groups_claim=True)
    ids = sorted(str(group(f"Team {n}", user).pk) for n in range(3))

    body = tokens(wiki, signed_in(user.email))
    claims = body["claims"]

    assert "groups" not in claims
    assert claims["_claim_names"] == {"groups": "src1"}
    endpoint = claims["_claim_sources"]["src1"]["endpoint"]
    assert endpoint == "http://testserver/oauth/userinfo/"
    answer = wiki.http.get(urlsplit(endpoint).path, HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert answer.json()["groups"] == ids


def test_a_refreshed_id_token_says_what_is_true_now(user):
    wiki = app("Wiki", "editor", "reader")
    assign(wiki, user, "reader")
    body = tokens(wiki, signed_in(user.email))
    assign(wiki, user, "editor")

    refreshed = wiki.refresh(body["refresh_token"]).json()

    assert wiki.id_claims(refreshed["id_token"])["roles"] == ["editor", "reader"]


def test_discovery_names_the_roles_scope_and_the_claims(client):
    document = client.get("/.well-known/openid-configuration").json()
    assert "roles" in document["scopes_supported"]
    assert {"roles", "groups"} <= set(document["claims_supported"])
    assert "distributed" in document["claim_types_supported"]


# --- assignment required ------------------------------------------------------------------------


def test_someone_not_assigned_gets_a_page_saying_so_and_a_way_back(user):
    wiki = app("Wiki", assignment_required=True)
    browser = signed_in(user.email)
    request = wiki.authorization(scope="openid roles")
    refusals = AUTHORIZATION_REFUSALS.labels("not_assigned", "authorize")._value.get()

    page = browser.get(request["url"])

    assert page.status_code == 403
    html = page.content.decode()
    assert user.email in html and "Wiki" in html and "administrator" in html
    back = page.context["back_url"]
    assert back.startswith(REDIRECT_URI)
    returned = {key: values[0] for key, values in parse_qs(urlsplit(back).query).items()}
    assert returned["error"] == "access_denied" and returned["state"] == request["params"]["state"]
    assert returned["iss"] == "http://testserver"
    assert "code" not in returned
    switch = page.context["switch_url"]
    assert switch.startswith("/accounts/login/?") and "prompt=login" in switch
    event = SecurityEvent.objects.get(user=user, kind=SecurityEvent.Kind.APP_NOT_ASSIGNED)
    assert event.reason == "Wiki"
    assert AUTHORIZATION_REFUSALS.labels("not_assigned", "authorize")._value.get() == refusals + 1


def test_signing_in_as_someone_assigned_continues_the_same_request(user, make_user):
    wiki = app("Wiki", assignment_required=True)
    colleague = make_user("bob@example.com")
    assign(wiki, group("Wiki users", colleague))
    browser = signed_in(user.email)
    request = wiki.authorization(scope="openid")
    switch = browser.get(request["url"]).context["switch_url"]
    next_url = parse_qs(urlsplit(switch).query)["next"][0]

    signed = sign_in_with_password(browser, colleague.email, next_url, prompt="login")
    returned = wiki.callback(browser.get(signed["Location"]))

    assert returned["state"] == request["params"]["state"] and "code" in returned
    assert wiki.redeem(returned["code"], request["verifier"]).status_code == 200


def test_prompt_none_goes_straight_back_with_access_denied(user):
    wiki = app("Wiki", assignment_required=True)
    request = wiki.authorization(prompt="none")

    returned = wiki.callback(signed_in(user.email).get(request["url"]))

    assert returned["error"] == "access_denied" and returned["state"] == request["params"]["state"]
    assert "code" not in returned


def test_assigned_with_default_access_through_a_group_signs_in(user):
    wiki = app("Wiki", assignment_required=True)
    assign(wiki, group("Wiki users", user))
    assert tokens(wiki, signed_in(user.email))["claims"]["roles"] == []


def test_a_refresh_for_someone_no_longer_admitted_is_refused(user):
    """An app switched to "assignment required" after the person signed in: their refresh token,
    which no directory change revoked, brings nothing."""
    wiki = app("Wiki")
    body = tokens(wiki, signed_in(user.email))
    wiki.client.assignment_required = True
    wiki.client.save()
    refusals = AUTHORIZATION_REFUSALS.labels("not_assigned", "token")._value.get()

    refused = wiki.refresh(body["refresh_token"])

    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert AUTHORIZATION_REFUSALS.labels("not_assigned", "token")._value.get() == refusals + 1


def test_a_code_issued_before_the_assignment_ended_brings_nothing(user):
    wiki = app("Wiki", assignment_required=True)
    assignment = assign(wiki, user)
    request = wiki.authorization()
    returned = wiki.callback(signed_in(user.email).get(request["url"]))
    Assignment.objects.filter(pk=assignment.pk).update(app=app("Other").client)  # no signal: the check alone

    refused = wiki.redeem(returned["code"], request["verifier"])

    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
