"""What the directory says about one person and one app: the questions protocol apps ask."""

from __future__ import annotations

from django.db.models import Q

from .models import AppRole, Assignment, Membership


def _principal(user) -> Q:
    """Assignments made to this person or to a group they are a member of."""
    return Q(user=user) | Q(group__memberships__user=user)


def roles_for(user, app) -> list[str]:
    """The values of the app's roles the person holds, directly or through groups, sorted. Only
    assignments to this very app count: a row assigning another app with this app's role (one that
    skipped clean()) would otherwise bring a role here that no change to this app's rows revokes."""
    return sorted(
        AppRole.objects.filter(app=app)
        .filter(
            Q(assignments__app=app, assignments__user=user)
            | Q(assignments__app=app, assignments__group__memberships__user=user)
        )
        .values_list("value", flat=True)
        .distinct()
    )


def is_assigned(user, app) -> bool:
    """Is the person assigned to the app, with a role or with default access, directly or through a group?"""
    return Assignment.objects.filter(app=app).filter(_principal(user)).exists()


def group_ids_for(user) -> list[str]:
    """The stable ids of the groups the person is a member of (never their names), sorted."""
    return sorted(str(pk) for pk in Membership.objects.filter(user=user).values_list("group_id", flat=True))
