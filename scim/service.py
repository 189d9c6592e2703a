"""What our SCIM server offers (ServiceProviderConfig, schemas, resource types) and who may do what:
scim2-server's ScimService, with each client's limits as its authorisation."""

from __future__ import annotations

import json
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    External,
    Filter,
    ForbiddenException,
    Group,
    Pagination,
    Patch,
    PatchOp,
    Reference,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_server.requests import ScimRequest
from scim2_server.routing import Operation, Target
from scim2_server.service import ScimService

from .models import ScimClient

MAX_RESULTS = 200
WRITES = {Operation.create, Operation.replace, Operation.patch, Operation.delete, Operation.bulk}

CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=True),
    etag=ETag(supported=True),
    pagination=Pagination(index=True, cursor=False, default_page_size=100, max_page_size=MAX_RESULTS),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="The token an admin created for this SCIM client (Admin > SCIM clients).",
            spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
            primary=True,
        )
    ],
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[ResourceType.from_resource(User[EnterpriseUser]), ResourceType.from_resource(Group)],
    config=CONFIG,
)


def members_removed_by_value(body: bytes) -> bytes:
    """Entra ID removes group members with {"op": "Remove", "path": "members", "value": [{"value": id}]},
    which RFC 7644 3.5.2.2 does not allow (a remove names what goes with a filter in its path): the
    same removal in the RFC's words, one `members[value eq "id"]` per member."""
    try:
        patch = json.loads(body)
        operations = patch["Operations"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return body  # the library says what is wrong with it (too deeply nested, too)
    if not isinstance(operations, list):
        return body
    rewritten = []
    for operation in operations:
        value = operation.get("value") if isinstance(operation, dict) else None
        if (
            isinstance(operation, dict)
            and str(operation.get("op", "")).lower() == "remove"
            and str(operation.get("path", "")).lower() == "members"
            and isinstance(value, list)
            and all(isinstance(member, dict) and isinstance(member.get("value"), str) for member in value)
        ):
            rewritten += [
                {"op": "remove", "path": f"members[value eq {json.dumps(member['value'])}]"} for member in value
            ]
        else:
            rewritten.append(operation)
    return json.dumps({**patch, "Operations": rewritten}).encode()


class IdentityScimService(ScimService):
    def read_patch(self, resource_type: ResourceType, body: bytes, content_type: str | None) -> PatchOp[Any]:
        return super().read_patch(resource_type, members_removed_by_value(body), content_type)

    def authorize(self, request: ScimRequest, target: Target, resource_type: ResourceType) -> None:
        """A client touches only the resource types it was given, and writes only if it may."""
        client: ScimClient = request.subject  # scim.api sets it to the authenticated client
        allowed = {"User": client.may_users, "Group": client.may_groups}.get(resource_type.name or "", False)
        if not allowed:
            raise ForbiddenException(detail=f"This SCIM client may not touch {resource_type.name} resources.")
        if target.operation in WRITES and not client.may_write:
            raise ForbiddenException(detail="This SCIM client may only read.")


SERVICE = IdentityScimService(PROVIDER)
