"""The directory's changes in the audit trail of each person they concern, with the acting admin.

A group's assignment concerns every member: each of them gets the event. The reason column names
the group, app or role (as it was then), cut to fit.
"""

from __future__ import annotations

from accounts.audit import record_event
from accounts.models import SecurityEvent

from .models import AppRole, Assignment, Membership

Event = SecurityEvent.Kind


def _people(assignment: Assignment) -> list:
    if assignment.user is not None:
        return [assignment.user]
    members = Membership.objects.filter(group=assignment.group).select_related("user")
    return [membership.user for membership in members]


def membership_changed(request, membership: Membership, *, joined: bool, actor) -> None:
    kind = Event.GROUP_JOINED if joined else Event.GROUP_LEFT
    record_event(request, kind, membership.user, actor=actor, reason=membership.group.display_name[:40])


def assignment_changed(request, assignment: Assignment, *, given: bool, actor) -> None:
    """Assigned or unassigned, with a role (role given or removed) or with default access."""
    if assignment.role is not None:
        kind = Event.ROLE_GIVEN if given else Event.ROLE_REMOVED
        reason = assignment.role.value
    else:
        kind = Event.APP_ASSIGNED if given else Event.APP_UNASSIGNED
        reason = assignment.app.name or assignment.app.client_id
    for person in _people(assignment):
        record_event(request, kind, person, actor=actor, reason=reason[:40])


def role_changed(request, role: AppRole, *, given: bool, actor) -> None:
    """A role deleted (or its value changed): everyone holding it loses (or gains) that value."""
    for assignment in Assignment.objects.filter(role=role).select_related("role", "app", "user"):
        assignment.role = role
        assignment_changed(request, assignment, given=given, actor=actor)


def group_deleted(request, group, *, actor) -> None:
    for membership in Membership.objects.filter(group=group).select_related("user", "group"):
        membership_changed(request, membership, joined=False, actor=actor)
