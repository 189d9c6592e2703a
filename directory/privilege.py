"""Who may change which rows of the directory: accounts' least privilege (`may_manage`), carried over.

A membership or an assignment changes what a person may do in relying apps, so only a superuser may
make or end one for a staff or superuser account, and only a superuser may touch a group that holds
such an account (renaming it, assigning it, deleting it would all act on that account). Otherwise a
helpdesk admin could put an administrator into a group with a role they control, or lock them out.
"""

from __future__ import annotations

from django.db.models import Q

from accounts.flows.lifecycle import may_manage

from .models import Assignment, Group, Membership

PRIVILEGED = Q(user__is_staff=True) | Q(user__is_superuser=True)


def holds_privileged(group_id) -> bool:
    """Does the group have a staff or superuser member?"""
    return group_id is not None and Membership.objects.filter(PRIVILEGED, group_id=group_id).exists()


def may_change_group(actor, group: Group | None) -> bool:
    return actor.is_superuser or group is None or group.pk is None or not holds_privileged(group.pk)


def may_change_membership(actor, user) -> bool:
    return user is None or may_manage(actor, user)


def may_change_assignment(actor, user=None, group_id=None) -> bool:
    """May `actor` assign (or unassign) this person, or this group (and so each of its members)?"""
    if actor.is_superuser:
        return True
    if user is not None and not may_manage(actor, user):
        return False
    return not holds_privileged(group_id)


def may_change_existing_assignment(actor, assignment: Assignment) -> bool:
    return may_change_assignment(actor, assignment.user, assignment.group_id)
