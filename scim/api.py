"""Serving one SCIM request: who calls (scim.clients), then scim2-server's handler over our storage,
in one transaction, so a request that fails changes nothing."""

from __future__ import annotations

from django.db import transaction
from scim2_models import SCIMException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation

from .clients import authenticate
from .service import SERVICE
from .storage import DjangoStorage


def serve(request, scim_request: ScimRequest) -> ScimResponse:
    """The SCIM response to a request. RateLimited propagates (identity.refusals answers it)."""
    try:
        if SERVICE.match(scim_request).operation is Operation.service_provider_config:
            # RFC 7644 4: what the server supports (and how to authenticate) is readable without a token.
            return SERVICE.service_provider_config(scim_request.url, scim_request.query)
        client = authenticate(request)
        scim_request.subject = client
        with transaction.atomic():
            return ScimHandler(SERVICE, DjangoStorage(client, request)).handle(scim_request)
    except SCIMException as refused:
        return SERVICE.error_response(refused)
