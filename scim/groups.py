"""Groups as SCIM Groups: `id` is the group's UUID (stable across renames, as the groups claim needs),
`members` the people in it that this client may see, by their subject.

A client changes only the memberships of people it may see: members it cannot see (a staff account
an admin put in the group) are neither shown to it nor removed by its PUT. Each membership added or
removed is audited on that person's trail, since a group can bring app roles. Memberships are created
and deleted row by row (never raw SQL), so the directory's signals revoke what a lost one gave.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from scim2_models import ForbiddenException, Group, InvalidValueException, Meta

from accounts.audit import record_event
from accounts.models import SecurityEvent
from accounts.models import User as Person
from directory.models import Group as DirectoryGroup
from directory.models import Membership

from .filters import Attribute, Attributes, uuid_equal
from .models import ProvisionedGroup, ScimClient
from .scope import visible_users
from .users import touch
from .versions import version_of

log = logging.getLogger(__name__)
Event = SecurityEvent.Kind


def group_attributes(client: ScimClient) -> Attributes:
    def has_member(value: str) -> Q:
        members = Membership.objects.filter(user__in=visible_users(client)).filter(uuid_equal("user__subject")(value))
        return Q(pk__in=members.values("group_id"))

    return {
        "displayname": Attribute(equal=lambda value: Q(display_name__iexact=value), sort="display_name"),
        "externalid": Attribute(equal=lambda value: Q(external_id=value), sort="external_id"),
        "id": Attribute(equal=uuid_equal("id"), sort="id"),
        "members.value": Attribute(equal=has_member),
        "members": Attribute(equal=has_member),
        "meta.lastmodified": Attribute(column="updated_at", sort="updated_at"),
        "meta.created": Attribute(column="created_at", sort="created_at"),
    }


def represent(group: DirectoryGroup, members: list[Person]) -> dict[str, Any]:
    shown: dict[str, Any] = {"schemas": [str(Group.__schema__)], "id": str(group.id), "displayName": group.display_name}
    if group.external_id:
        shown["externalId"] = group.external_id
    if members:
        shown["members"] = [
            {
                "value": str(person.subject),
                "display": person.display_name or person.email,
                "$ref": f"Users/{person.subject}",
                "type": "User",
            }
            for person in members
        ]
    shown["meta"] = {
        "resourceType": "Group",
        "created": group.created_at.isoformat(),
        "lastModified": group.updated_at.isoformat(),
        "version": version_of(shown),
    }
    return shown


def to_resource(group: DirectoryGroup, members: list[Person]) -> Any:
    resource = Group.model_validate(represent(group, members))
    resource.meta = Meta.model_validate(resource.meta.model_dump() if resource.meta else {})
    return resource


def _wanted(client: ScimClient, resource: Any) -> tuple[str, str, set[int]]:
    sent = resource.model_dump()
    display_name, external_id = sent.get("displayName") or "", sent.get("externalId") or ""
    if not display_name or len(display_name) > 200 or len(external_id) > 200:
        raise InvalidValueException(detail="displayName is required, at most 200 characters; externalId at most 200.")
    subjects = set()
    for member in sent.get("members") or []:
        if member.get("type") not in (None, "User"):
            raise InvalidValueException(detail="Only people can be members; groups in groups are not supported.")
        subjects.add(str(member.get("value", "")))
    people = {}
    for subject in subjects:
        found = visible_users(client).filter(uuid_equal("subject")(subject)).values_list("pk", flat=True).first()
        if found is None:
            raise InvalidValueException(detail=f"No user {subject!r}: members are the ids of Users.")
        people[subject] = found
    return display_name, external_id, set(people.values())


def create(client: ScimClient, resource: Any, request) -> DirectoryGroup:
    display_name, external_id, member_pks = _wanted(client, resource)
    with transaction.atomic():
        group = DirectoryGroup.objects.create(display_name=display_name, external_id=external_id)
        ProvisionedGroup.objects.create(group=group, client=client)
        _set_members(client, group, member_pks, request)
    log.info("SCIM client %s created group %s (%s)", client.name, group.id, display_name)
    return group


def update(client: ScimClient, group: DirectoryGroup, resource: Any, request) -> None:
    display_name, external_id, member_pks = _wanted(client, resource)
    with transaction.atomic():
        if (display_name, external_id) != (group.display_name, group.external_id):
            log.info("SCIM client %s renamed group %s to %s", client.name, group.id, display_name)
        group.display_name, group.external_id = display_name, external_id
        group.save()  # moves updated_at, also for a change of members only
        _set_members(client, group, member_pks, request)


def delete(client: ScimClient, group: DirectoryGroup, request) -> None:
    """Deleting a group ends every membership in it; one with members this client may not see (a
    staff account an admin put there) is left to an admin, so no client changes what staff may do."""
    if group.memberships.exclude(user__in=visible_users(client)).exists():
        raise ForbiddenException(detail="Only an admin can delete this group: it has members this client cannot see.")
    group_id = group.id
    with transaction.atomic():
        for membership in group.memberships.select_related("user"):
            _audit_membership(client, membership.user, group, "left", request)
        group.delete()  # its memberships go one by one through the delete signals (cascade)
    log.info("SCIM client %s deleted group %s (%s)", client.name, group_id, group.display_name)


def _set_members(client: ScimClient, group: DirectoryGroup, wanted: set[int], request) -> None:
    """The visible members become `wanted`; members this client cannot see stay as they are."""
    current = set(group.memberships.filter(user__in=visible_users(client)).values_list("user_id", flat=True))
    for person in Person.objects.filter(pk__in=wanted - current):
        Membership.objects.create(group=group, user=person)
        _audit_membership(client, person, group, "joined", request)
    for membership in group.memberships.filter(user_id__in=current - wanted).select_related("user"):
        membership.delete()
        _audit_membership(client, membership.user, group, "left", request)


def _audit_membership(client: ScimClient, person: Person, group: DirectoryGroup, what: str, request) -> None:
    touch(person)
    reason = f"{what} {group.display_name}"[:40]
    record_event(request, Event.SCIM_CHANGED, person, reason=reason, provisioner=client.name)
