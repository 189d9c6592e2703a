"""scim2-server's storage over the Django ORM, for one client's request: every read goes through the
client's scope (scim.scope), so what it may not see answers 404 and matches no filter, as if absent.
The protocol (PATCH, PUT, If-Match, validation) is the library's; writes go to scim.users/groups."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Prefetch, QuerySet
from scim2_models import (
    InvalidValueException,
    NotFoundException,
    NotImplementedException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    SearchRequest,
)
from scim2_server.conditions import EntityTags
from scim2_server.storage import ScimStorage, SearchPage

from accounts.models import User as Person
from directory.models import Group, Membership

from . import groups, users
from .filters import sort_column, to_q
from .models import ScimClient
from .scope import visible_groups, visible_users


def refuse_nul_characters(value: Any) -> None:
    """PostgreSQL stores no NUL character in text or JSON: such input is a 400, not a 500 on write."""
    if isinstance(value, str) and "\x00" in value:
        raise InvalidValueException(detail="Text may not contain the NUL character.")
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_nul_characters(key)
            refuse_nul_characters(item)
    elif isinstance(value, list):
        for item in value:
            refuse_nul_characters(item)


class DjangoStorage(ScimStorage):
    def __init__(self, client: ScimClient, request):
        self.client = client
        self.request = request  # the HttpRequest, for the audit trail (address, user agent)

    # -- reading -------------------------------------------------------------------------------

    def _people(self) -> QuerySet[Person]:
        memberships = Membership.objects.filter(group__in=visible_groups(self.client)).select_related("group")
        return (
            visible_users(self.client)
            .select_related("scim")
            .prefetch_related(Prefetch("group_memberships", queryset=memberships, to_attr="visible_memberships"))
        )

    def _groups(self) -> QuerySet[Group]:
        memberships = Membership.objects.filter(user__in=visible_users(self.client)).select_related("user")
        return visible_groups(self.client).prefetch_related(
            Prefetch("memberships", queryset=memberships.order_by("added_at", "pk"), to_attr="visible_memberships")
        )

    def _user_resource(self, person: Person) -> Resource[Any]:
        return users.to_resource(person, [m.group for m in getattr(person, "visible_memberships", [])])

    def _group_resource(self, group: Group) -> Resource[Any]:
        return groups.to_resource(group, [m.user for m in getattr(group, "visible_memberships", [])])

    def _resource(self, found: Person | Group) -> Resource[Any]:
        return self._user_resource(found) if isinstance(found, Person) else self._group_resource(found)

    def _find(self, resource_type: ResourceType, resource_id: str | None, *, lock: bool = False) -> Person | Group:
        try:
            key = uuid.UUID(str(resource_id))
        except ValueError:
            raise NotFoundException(detail=f"No {resource_type.name} {resource_id!r}.") from None
        if resource_type.name == "User":
            people = self._people()
            found: Person | Group | None = (
                (people.select_for_update(of=("self",)) if lock else people).filter(subject=key).first()
            )
        else:
            found_groups = self._groups()
            found = (found_groups.select_for_update(of=("self",)) if lock else found_groups).filter(id=key).first()
        if found is None:
            raise NotFoundException(detail=f"No {resource_type.name} {resource_id!r}.")
        return found

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        return self._resource(self._find(resource_type, resource_id))

    def search(
        self, resource_types: list[ResourceType], search_request: SearchRequest[Any], *, position: Any = None
    ) -> SearchPage:
        if len(resource_types) != 1:
            raise NotImplementedException(detail="Search one endpoint at a time: /Users or /Groups.")
        is_users = resource_types[0].name == "User"
        found: QuerySet[Any] = self._people() if is_users else self._groups()
        attributes = users.USER_ATTRIBUTES if is_users else groups.group_attributes(self.client)
        if search_request.filter is not None:
            found = found.filter(to_q(search_request.filter.ast, attributes))
        order = "pk"
        if search_request.sort_by is not None:
            column = sort_column(search_request.sort_by, attributes)
            descending = search_request.sort_order == SearchRequest.SortOrder.descending
            order = f"-{column}" if descending else column
        found = found.order_by(order, "pk").distinct()
        total = found.count()
        start = search_request.start_index_0 or 0
        stop = start + search_request.count if search_request.count is not None else None
        # A start past the last result is an empty page, asked of no database (which refuses an OFFSET
        # beyond 64 bits with an error).
        within = start < total and (stop is None or stop > start)
        page = list(found[start:stop]) if within else []
        return SearchPage(total, [self._resource(item) for item in page])

    # -- writing -------------------------------------------------------------------------------

    def _check_version(self, resource_type: ResourceType, found: Person | Group, expected: str | None) -> None:
        """If-Match is checked by the library against what it read; here again under the row lock,
        so a change that landed in between is a 412, not a lost update."""
        if expected is None:
            return
        current = self._resource(found).meta
        tags = EntityTags.parse(expected)
        if tags is not None and not tags.matches(current.version if current else None):
            raise PreconditionFailedException(detail=f"The {resource_type.name} changed since it was read.")

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        refuse_nul_characters(resource.model_dump())
        if resource_type.name == "User":
            created: Person | Group = users.create(self.client, resource, self.request)
            return self.get(resource_type, str(created.subject))  # type: ignore[union-attr]
        created = groups.create(self.client, resource, self.request)
        return self.get(resource_type, str(created.pk))

    def update(
        self, resource_type: ResourceType, resource: Resource[Any], *, expected_version: str | None = None
    ) -> Resource[Any]:
        refuse_nul_characters(resource.model_dump())
        found = self._find(resource_type, resource.id, lock=True)
        self._check_version(resource_type, found, expected_version)
        if isinstance(found, Person):
            users.update(self.client, found, resource, self.request)
        else:
            groups.update(self.client, found, resource, self.request)
        return self.get(resource_type, str(resource.id))

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None) -> None:
        found = self._find(resource_type, resource_id, lock=True)
        self._check_version(resource_type, found, expected_version)
        if isinstance(found, Person):
            users.delete(self.client, found, self.request)
        else:
            groups.delete(self.client, found, self.request)
