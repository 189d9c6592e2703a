"""Two ways past admin least privilege that the user admin alone did not close: a staff member allowed
to change groups gives their own group every permission, and one allowed to change relying apps adds a
redirect URI they read to a first-party app (no consent page) and collects everyone's codes. Each test
plays that staff member (with an authenticator app, Django's test client, PostgreSQL, Redis); superusers
still change both.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client as Browser

from accounts.models import User
from oidc.models import Client
from tests.accounts.test_admin import change_form
from tests.accounts.test_admin_least_privilege import colleague, grant, root  # noqa: F401 (fixtures)
from tests.directory.directory import NO_ROLES_OR_ASSIGNMENTS
from tests.oidc.relying_party import REDIRECT_URI, register
from tests.users import add_totp, sign_in_admin

pytestmark = pytest.mark.django_db

GROUPS_READ_ONLY = "Only a superuser can change groups: a group&#x27;s permissions are given to everyone in it."
APPS_READ_ONLY = (
    "Only a superuser can change relying apps: "
    "their addresses, type and secret decide where sign-in codes and tokens go."
)
EVIL_CALLBACK = "https://evil.example/callback"


@pytest.fixture
def staff_with(make_user):
    """A staff member (with a second factor, so the admin lets them in) holding only `codenames`."""

    def make(*codenames: str, email: str = "helpdesk@example.com") -> Browser:
        staff = grant(make_user(email, is_staff=True), *codenames)
        add_totp(staff)
        browser = sign_in_admin(staff)
        browser.account = staff  # type: ignore[attr-defined]  # a note for the test
        return browser

    return make


def group_form(group: Group, permissions) -> dict:
    return {"name": group.name, "permissions": [p.pk for p in permissions], "_save": "Save"}


def client_form(client: Client, **overrides) -> dict:
    """The change form of a relying app as the page posts it, unchanged unless overridden."""
    data = {
        "name": client.name,
        "client_type": client.client_type,
        "authorization_grant_type": client.authorization_grant_type,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "allowed_scopes": client.allowed_scopes,
        "algorithm": client.algorithm,
        "_save": "Save",
        **NO_ROLES_OR_ASSIGNMENTS,
    }
    data.update({"skip_authorization": "on"} if client.skip_authorization else {})
    data.update(overrides)
    return data


@pytest.fixture
def first_party(db) -> Client:
    client, _secret = register("Intranet", skip_authorization=True)
    return client


# --- groups ---------------------------------------------------------------------------------------


def test_staff_cannot_give_its_own_group_every_permission(staff_with):
    helpdesk = staff_with()
    group = Group.objects.create(name="Helpdesk")
    group.permissions.add(*Permission.objects.filter(codename__in=["view_group", "change_group"]))
    helpdesk.account.groups.add(group)
    before = set(group.permissions.all())

    page = helpdesk.get(f"/admin/auth/group/{group.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert GROUPS_READ_ONLY in html and 'name="permissions"' not in html and 'name="_save"' not in html

    refused = helpdesk.post(f"/admin/auth/group/{group.pk}/change/", group_form(group, Permission.objects.all()))
    assert refused.status_code == 403 and GROUPS_READ_ONLY in refused.content.decode()
    assert set(group.permissions.all()) == before
    assert not User.objects.get(pk=helpdesk.account.pk).has_perm("accounts.change_user")


def test_staff_cannot_add_or_delete_a_group(staff_with):
    helpdesk = staff_with("add_group", "delete_group", "view_group")
    refused = helpdesk.post("/admin/auth/group/add/", group_form(Group(name="Everything"), Permission.objects.all()))
    assert refused.status_code == 403
    assert not Group.objects.filter(name="Everything").exists()
    group = Group.objects.create(name="Auditors")
    assert helpdesk.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Group.objects.filter(pk=group.pk).exists()


def test_staff_cannot_put_a_staff_account_into_a_group_on_the_user_page(staff_with, colleague, user):  # noqa: F811
    """Guard: membership is a privilege field (superusers only), and staff rows are read-only anyway."""
    helpdesk = staff_with("view_user", "change_user")
    admins = Group.objects.create(name="Admins")
    admins.permissions.add(*Permission.objects.all())
    for staff in (colleague, helpdesk.account):
        response = helpdesk.post(f"/admin/accounts/user/{staff.pk}/change/", change_form(staff, groups=[admins.pk]))
        assert response.status_code == 403
    saved = helpdesk.post(f"/admin/accounts/user/{user.pk}/change/", change_form(user, groups=[admins.pk]))
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert not admins.user_set.exists()


def test_a_superuser_can_change_a_groups_permissions_and_members(root, colleague):  # noqa: F811
    admin = sign_in_admin(root)
    group = Group.objects.create(name="Helpdesk")
    wanted = Permission.objects.filter(codename__in=["view_user", "change_user"])
    response = admin.post(f"/admin/auth/group/{group.pk}/change/", group_form(group, wanted))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(group.permissions.all()) == set(wanted)
    joined = admin.post(f"/admin/accounts/user/{colleague.pk}/change/", change_form(colleague, groups=[group.pk]))
    assert joined.status_code == 302, joined.content.decode()[:2000]
    assert list(colleague.groups.all()) == [group]


# --- relying apps ---------------------------------------------------------------------------------


def test_staff_sees_a_first_party_apps_page_read_only(staff_with, first_party):
    helpdesk = staff_with("view_client", "change_client")
    page = helpdesk.get(f"/admin/oidc/client/{first_party.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert APPS_READ_ONLY in html and 'name="redirect_uris"' not in html and 'name="_save"' not in html


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uris": f"{REDIRECT_URI} {EVIL_CALLBACK}"},
        {"post_logout_redirect_uris": EVIL_CALLBACK},
        {"client_type": Client.CLIENT_PUBLIC},
        {"skip_authorization": None},
    ],
    ids=["redirect_uri", "post_logout_redirect_uri", "client_type", "skip_authorization"],
)
def test_staff_cannot_redirect_a_first_party_apps_codes(staff_with, first_party, change):
    helpdesk = staff_with("view_client", "change_client")
    form = {key: value for key, value in client_form(first_party, **change).items() if value is not None}
    refused = helpdesk.post(f"/admin/oidc/client/{first_party.pk}/change/", form)
    assert refused.status_code == 403 and APPS_READ_ONLY in refused.content.decode()
    stored = Client.objects.get(pk=first_party.pk)
    assert (stored.redirect_uris, stored.post_logout_redirect_uris) == (REDIRECT_URI, "")
    assert stored.client_type == Client.CLIENT_CONFIDENTIAL and stored.skip_authorization


def test_staff_cannot_make_a_new_secret_or_add_an_app(staff_with, first_party):
    helpdesk = staff_with("view_client", "change_client", "add_client")
    secret_before = first_party.client_secret
    response = helpdesk.post("/admin/oidc/client/", {"action": "new_secret", "_selected_action": [first_party.pk]})
    assert "Client secret:" not in response.content.decode()
    assert Client.objects.get(pk=first_party.pk).client_secret == secret_before
    added = helpdesk.post(
        "/admin/oidc/client/add/", client_form(first_party, name="Collector", redirect_uris=EVIL_CALLBACK)
    )
    assert added.status_code == 403
    assert not Client.objects.filter(name="Collector").exists()


def test_a_superuser_can_change_a_first_party_apps_redirect_uris(root, first_party):  # noqa: F811
    admin = sign_in_admin(root)
    moved = "https://intranet.example/callback"
    response = admin.post(f"/admin/oidc/client/{first_party.pk}/change/", client_form(first_party, redirect_uris=moved))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Client.objects.get(pk=first_party.pk).redirect_uris == moved
