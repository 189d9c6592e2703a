"""SCIM clients in the admin: only superusers make them, the token is shown once and stored hashed,
revoking works; and the account admin's delete goes through the account-deletion flow."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry

from accounts.models import SecurityEvent, User
from scim.models import ScimClient, token_hash
from tests.accounts.test_admin_least_privilege import grant
from tests.scim.helpers import Scim, make_client
from tests.users import add_totp, sign_in_admin

pytestmark = pytest.mark.django_db
Event = SecurityEvent.Kind
FORM = {"name": "Entra ID", "may_users": "on", "may_groups": "on", "may_write": "on"}


def shown_token(response) -> str:
    """The token on the page right after it was made, which no one may keep (no-store), and never in
    a message: messages ride in a cookie that is signed but readable."""
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert "messages" not in response.cookies
    return re.search(r"(scim_[A-Za-z0-9_-]{43})", response.content.decode()).group(1)


def test_a_superuser_makes_a_client_and_sees_its_token_once(make_admin):
    browser = sign_in_admin(make_admin())
    token = shown_token(browser.post("/admin/scim/scimclient/add/", FORM))
    client = ScimClient.objects.get(name="Entra ID")
    assert client.token_hash == token_hash(token) and token not in str(vars(client))
    assert LogEntry.objects.filter(object_id=str(client.pk)).exists()
    assert Scim(token).get("Users").status_code == 200
    page = browser.get(f"/admin/scim/scimclient/{client.pk}/change/").content.decode()
    assert token not in page and client.token_hint in page

    browser.post("/admin/scim/scimclient/", {"action": "revoke", "_selected_action": [client.pk]})
    assert Scim(token).get("Users").status_code == 401

    new = shown_token(
        browser.post("/admin/scim/scimclient/", {"action": "issue_new_token", "_selected_action": [client.pk]})
    )
    assert new != token and Scim(new).get("Users").status_code == 200 and Scim(token).get("Users").status_code == 401


def test_a_helpdesk_admin_cannot_make_or_change_a_client(make_user):
    staff = grant(
        make_user("helpdesk@example.com", is_staff=True), "view_scimclient", "add_scimclient", "change_scimclient"
    )
    add_totp(staff)
    browser = sign_in_admin(staff)
    assert browser.post("/admin/scim/scimclient/add/", FORM).status_code == 403
    client, token = make_client("Okta", any_account=False)
    browser.post(f"/admin/scim/scimclient/{client.pk}/change/", {**FORM, "name": "Okta", "any_account": "on"})
    browser.post("/admin/scim/scimclient/", {"action": "issue_new_token", "_selected_action": [client.pk]})
    client.refresh_from_db()
    assert not ScimClient.objects.filter(name="Entra ID").exists() and not client.any_account
    assert Scim(token).get("Users").status_code == 200  # its token was not replaced


def test_the_admins_delete_goes_through_the_deletion_flow(make_admin, make_user):
    admin = make_admin()
    browser = sign_in_admin(admin)
    person = make_user("someone@example.com")
    subject = person.subject
    response = browser.post(f"/admin/accounts/user/{person.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=person.pk).exists()
    event = SecurityEvent.objects.get(kind=Event.ADMIN_DELETED)
    assert event.actor == admin and event.former_account == f"someone@example.com ({subject})"

    others = [make_user(f"p{n}@example.com") for n in range(2)]
    browser.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [u.pk for u in others], "post": "yes"},
    )
    assert not User.objects.filter(pk__in=[u.pk for u in others]).exists()
    assert SecurityEvent.objects.filter(kind=Event.ADMIN_DELETED, actor=admin).count() == 3
