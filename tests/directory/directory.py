"""Helpers for the directory tests: apps with roles, groups, assignments, and a signed-in browser."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.test import Client as Browser

from accounts.models import User
from directory.models import AppRole, Assignment, Group, Membership
from tests.oidc.relying_party import RelyingParty, register, sign_in_with_password
from tests.users import add_totp, sign_in_admin

SCOPES = "openid email profile offline_access roles"


def app(name: str = "Wiki", *roles: str, **fields) -> RelyingParty:
    """A confidential app allowed the roles scope, first-party (no consent page), with these roles."""
    fields.setdefault("skip_authorization", True)
    client, secret = register(name, allowed_scopes=SCOPES, **fields)
    for value in roles:
        AppRole.objects.create(app=client, value=value, display_name=value.title())
    return RelyingParty(client, secret)


def role(rp: RelyingParty, value: str) -> AppRole:
    return AppRole.objects.get(app=rp.client, value=value)


def group(name: str, *members) -> Group:
    made = Group.objects.create(display_name=name)
    for member in members:
        Membership.objects.create(group=made, user=member)
    return made


def assign(rp: RelyingParty, principal, value: str | None = None) -> Assignment:
    """Assign a person or a group to the app, with one of its roles (or default access)."""
    target = {"group": principal} if isinstance(principal, Group) else {"user": principal}
    return Assignment.objects.create(app=rp.client, role=role(rp, value) if value else None, **target)


def signed_in(email: str) -> Browser:
    browser = Browser(raise_request_exception=False)
    assert sign_in_with_password(browser, email).status_code == 302
    return browser


def tokens(rp: RelyingParty, browser: Browser, scope: str = SCOPES) -> dict:
    """The whole code flow, with the ID token checked by authlib against the published JWKS."""
    return rp.sign_in_and_redeem(browser, scope=scope)


# The relying app's change page posts its roles and assignments inlines (directory.admin) with these
# management forms; an app with none of either posts them empty.
NO_ROLES_OR_ASSIGNMENTS = {
    "app_roles-TOTAL_FORMS": "0",
    "app_roles-INITIAL_FORMS": "0",
    "assignments-TOTAL_FORMS": "0",
    "assignments-INITIAL_FORMS": "0",
}


def helpdesk_admin(make_user) -> Browser:
    """A helpdesk admin signed in to the admin: staff, a second factor, every directory permission and
    view on people and apps, not a superuser. `browser.account` is the acting admin."""
    staff = make_user("helpdesk@example.com", is_staff=True)
    codenames = [
        f"{verb}_{model}"
        for model in ("group", "membership", "assignment")
        for verb in ("view", "add", "change", "delete")
    ]
    staff.user_permissions.add(*Permission.objects.filter(codename__in=[*codenames, "view_user", "view_client"]))
    add_totp(staff)
    browser = sign_in_admin(User.objects.get(pk=staff.pk))
    browser.account = staff  # type: ignore[attr-defined]
    return browser
