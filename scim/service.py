"""What our SCIM server offers (ServiceProviderConfig, schemas, resource types) and who may do what:
scim2-server's ScimService, with each client's limits as its authorisation."""

from __future__ import annotations

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


class IdentityScimService(ScimService):
    def authorize(self, request: ScimRequest, target: Target, resource_type: ResourceType) -> None:
        """A client touches only the resource types it was given, and writes only if it may."""
        client: ScimClient = request.subject  # scim.api sets it to the authenticated client
        allowed = {"User": client.may_users, "Group": client.may_groups}.get(resource_type.name or "", False)
        if not allowed:
            raise ForbiddenException(detail=f"This SCIM client may not touch {resource_type.name} resources.")
        if target.operation in WRITES and not client.may_write:
            raise ForbiddenException(detail="This SCIM client may only read.")


SERVICE = IdentityScimService(PROVIDER)
