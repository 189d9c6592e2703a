"""What the directory says in one app's tokens, and who may sign in to the app at all.

`roles` are the values of this app's roles the person holds, directly or through groups; another
app's roles never appear. `groups` (for apps that turned the claim on) are the groups' ids, which
never change when a group is renamed. Both ride on the `roles` scope, so the consent page says they
are shared. An ID token carries at most DIRECTORY_GROUPS_CLAIM_LIMIT group ids: beyond that it carries
Entra's overage marker instead, a distributed claim (OpenID Connect Core 5.6.2) pointing at userinfo,
which always answers with the whole list.
"""

from __future__ import annotations

from django.urls import reverse

from directory.access import group_ids_for, is_assigned, roles_for
from directory.app_settings import app_settings as directory_settings

from . import issuer

ROLES_SCOPE = "roles"
# The claims and the scope that releases them (the validator's oidc_claim_scope).
CLAIM_SCOPES = {"roles": ROLES_SCOPE, "groups": ROLES_SCOPE}
OVERAGE_SOURCE = "src1"


def claims(client) -> dict:
    """The directory's claims for the app, computed only if the token's scopes release them (DOT calls them)."""
    found = {"roles": lambda request: roles_for(request.user, request.client)}
    if client.groups_claim:
        found["groups"] = lambda request: group_ids_for(request.user)
    return found


def limit_groups(id_token_claims: dict) -> dict:
    """Too many groups for a token: none in it, and where to read them instead."""
    groups = id_token_claims.get("groups")
    if groups is None or len(groups) <= directory_settings.DIRECTORY_GROUPS_CLAIM_LIMIT:
        return id_token_claims
    limited = {name: value for name, value in id_token_claims.items() if name != "groups"}
    limited["_claim_names"] = {"groups": OVERAGE_SOURCE}
    limited["_claim_sources"] = {OVERAGE_SOURCE: {"endpoint": issuer() + reverse("oauth2_provider:user-info")}}
    return limited


def may_sign_in(user, client) -> bool:
    """An app that requires assignment admits only the people assigned to it, directly or through a group."""
    return not client.assignment_required or is_assigned(user, client)


def admits(access_token) -> bool:
    """Does the access token's app still admit its person? Checked wherever a token is used (userinfo,
    the APIs that introspect it), as refresh and code exchange check it: turning "assignment required"
    on revokes nothing, and a token issued while a change was being committed escapes its revocation.
    A machine's token (client credentials) names no person."""
    return access_token.user is None or may_sign_in(access_token.user, access_token.application)
