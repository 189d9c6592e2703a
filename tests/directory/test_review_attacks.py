"""The directory attacked after it landed (review): a helpdesk admin, a person, an app.

Each test is one attack through the real pages and endpoints (Django's test client, PostgreSQL,
Redis); it passes when the attack fails."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Browser

from directory.models import AppRole, Assignment, Membership
from tests.accounts.test_admin_groups_and_apps import client_form
from tests.directory.directory import app, assign, group, helpdesk_admin, role, signed_in, tokens
from tests.directory.test_admin import ASSIGNMENTS, GROUPS, group_form
from tests.oidc.relying_party import REDIRECT_URI
from tests.oidc.test_review_findings import introspect, resource_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def helpdesk(make_user) -> Browser:
    return helpdesk_admin(make_user)


# --- a helpdesk admin ---------------------------------------------------------------------------


def test_helpdesk_cannot_repoint_a_plain_membership_to_a_superuser(helpdesk, make_user, user):
    boss = make_user("boss@example.com", is_superuser=True, is_staff=True)
    wiki = app("Wiki", "admin")
    team = group("Team", user)
    assign(wiki, team, "admin")
    row = Membership.objects.get()
    form = group_form("Team", kept=[row])
    form["memberships-0-user"] = boss.pk

    response = helpdesk.post(f"{GROUPS}{team.pk}/change/", form)

    assert response.status_code == 200
    assert Membership.objects.get().user_id == user.pk


def test_helpdesk_cannot_repoint_a_plain_assignment_to_a_staff_account(helpdesk, make_user, user):
    operator = make_user("ops@example.com", is_staff=True)
    wiki = app("Wiki", "admin")
    assignment = assign(wiki, user, "admin")
    data = {"app": wiki.client.pk, "role": role(wiki, "admin").pk, "user": operator.pk}

    response = helpdesk.post(f"{ASSIGNMENTS}{assignment.pk}/change/", data)

    assert response.status_code == 200
    assert Assignment.objects.get().user_id == user.pk


def test_helpdesk_cannot_repoint_a_plain_assignment_to_a_group_holding_staff(helpdesk, make_user, user):
    admins = group("Admins", make_user("ops@example.com", is_staff=True))
    wiki = app("Wiki", "admin")
    assignment = assign(wiki, user, "admin")
    data = {"app": wiki.client.pk, "role": role(wiki, "admin").pk, "group": admins.pk}

    response = helpdesk.post(f"{ASSIGNMENTS}{assignment.pk}/change/", data)

    assert response.status_code == 200
    assert Assignment.objects.get().user_id == user.pk


def test_helpdesk_cannot_assign_through_the_apps_page(helpdesk, user):
    wiki = app("Wiki", "admin")
    form = client_form(wiki.client)
    form.update(
        {"assignments-TOTAL_FORMS": "1", "assignments-0-role": role(wiki, "admin").pk, "assignments-0-user": user.pk}
    )

    assert helpdesk.post(f"/admin/oidc/client/{wiki.client.pk}/change/", form).status_code == 403
    assert not Assignment.objects.exists()


def test_helpdesk_cannot_give_a_group_another_apps_role(helpdesk, user):
    wiki = app("Wiki", "reader")
    payroll = app("Payroll", "admin")
    team = group("Team", user)
    form = group_form("Team", kept=[Membership.objects.get()])
    form.update(
        {
            "assignments-TOTAL_FORMS": "1",
            "assignments-0-app": wiki.client.pk,
            "assignments-0-role": role(payroll, "admin").pk,
        }
    )

    response = helpdesk.post(f"{GROUPS}{team.pk}/change/", form)

    assert response.status_code == 200
    assert not Assignment.objects.exists()


# --- the app's tokens -----------------------------------------------------------------------------


def test_an_assignment_to_another_app_brings_no_role_here(user):
    """A row assigning the person to Payroll that names Wiki's role (a script skipping clean()) is an
    assignment to Payroll: Wiki's tokens carry none of it."""
    wiki = app("Wiki", "editor")
    payroll = app("Payroll", "admin")
    Assignment.objects.create(app=payroll.client, role=role(wiki, "editor"), user=user)

    assert tokens(wiki, signed_in(user.email))["claims"]["roles"] == []


def test_an_app_name_is_not_markup_on_the_not_assigned_page(user):
    wiki = app('<script>alert("x")</script>', assignment_required=True)
    page = signed_in(user.email).get(wiki.authorization(scope="openid")["url"])

    assert page.status_code == 403
    assert "<script>alert" not in page.content.decode()


def test_a_role_value_cannot_end_in_a_newline():
    """`$` also matches before a final newline: "admin\\n" would pass for a clean value, and an app
    comparing it to "admin" would see another role than the admin page shows."""
    wiki = app("Wiki")
    with pytest.raises(ValidationError):
        AppRole(app=wiki.client, value="admin\n", display_name="Admin").full_clean()


def test_helpdesk_cannot_bulk_delete_a_staff_accounts_assignment(helpdesk, make_user, user):
    wiki = app("Wiki", "admin")
    theirs = assign(wiki, make_user("ops@example.com", is_staff=True), "admin")
    plain = assign(wiki, user, "admin")

    response = helpdesk.post(
        ASSIGNMENTS, {"action": "delete_selected", "_selected_action": [theirs.pk, plain.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert list(Assignment.objects.all()) == [theirs]


# --- someone losing a role ----------------------------------------------------------------------


def test_losing_a_role_ends_every_family_and_the_code_not_yet_redeemed(user, django_capture_on_commit_callbacks):
    """Two sign-ins (two token families) and a code still in the app's hands: none outlives the role."""
    wiki = app("Wiki", "editor")
    editor = assign(wiki, user, "editor")
    browser = signed_in(user.email)
    first, second = tokens(wiki, browser), tokens(wiki, signed_in(user.email))
    pending = wiki.authorization(scope="openid roles")
    code = wiki.callback(browser.get(pending["url"]))["code"]

    with django_capture_on_commit_callbacks(execute=True):
        editor.delete()

    for body in (first, second):
        assert wiki.refresh(body["refresh_token"]).json()["error"] == "invalid_grant"
        assert wiki.userinfo(body["access_token"]).status_code == 401
    assert wiki.redeem(code, pending["verifier"]).json()["error"] == "invalid_grant"


def test_an_access_token_stops_when_the_app_starts_requiring_assignment(user):
    """ "Assignment required" turned on revokes nothing (no directory row changed): the refresh is
    refused, and the access token already issued must stop too, at userinfo and for the APIs that
    introspect it, not live on for its lifetime."""
    wiki = app("Wiki")
    wiki.client.allowed_scopes += " mail.read"
    wiki.client.save()
    body = tokens(wiki, signed_in(user.email), scope="openid roles mail.read")
    mail_api = resource_server()
    assert introspect(mail_api, body["access_token"]).json()["active"] is True
    wiki.client.assignment_required = True
    wiki.client.save()

    assert wiki.userinfo(body["access_token"]).status_code == 401
    assert introspect(mail_api, body["access_token"]).json() == {"active": False}


# --- the not-assigned page ------------------------------------------------------------------------


def test_the_not_assigned_page_links_back_only_to_a_registered_address_with_the_state_as_sent(user):
    wiki = app("Wiki", assignment_required=True)
    browser = signed_in(user.email)
    state = '"><script>x</script>&code=forged'

    page = browser.get(wiki.authorization(scope="openid", state=state)["url"])
    elsewhere = browser.get(wiki.authorization(scope="openid", redirect_uri="https://evil.example/cb")["url"])

    assert page.status_code == 403
    back = urlsplit(page.context["back_url"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    assert parse_qs(back.query)["state"] == [state] and "code" not in parse_qs(back.query)
    assert "<script>x" not in page.content.decode()
    assert elsewhere.status_code == 400 and "evil.example" not in elsewhere.get("Location", "")


def test_a_member_who_does_not_exist_is_a_form_error_not_a_500(helpdesk):
    team = group("Team")
    form = group_form("Team")
    form.update({"memberships-TOTAL_FORMS": "1", "memberships-0-user": "999999"})

    response = helpdesk.post(f"{GROUPS}{team.pk}/change/", form)

    assert response.status_code == 200
    assert not Membership.objects.exists()
