"""Django's request as a ScimRequest, the ScimResponse as Django's response (for views.scim_endpoint)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from scim2_models import PayloadTooLargeException
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse

from .api import serve
from .service import SERVICE


def answer(request: HttpRequest, path: str) -> HttpResponse:
    try:
        body = request.body
    except RequestDataTooBig:  # a SCIM error, not the site's HTML page, for a provisioner to log
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _as_django(SERVICE.error_response(PayloadTooLargeException(detail=f"At most {limit} bytes.")))
    scim_request = ScimRequest(
        method=request.method or "GET",
        base_url=request.build_absolute_uri(reverse("scim:root")).rstrip("/"),
        path="/" + path.removesuffix(".scim"),
        query={key: request.GET[key] for key in request.GET},
        headers=dict(request.headers),
        body=body,
    )
    return _as_django(serve(request, scim_request))


def _as_django(answer: ScimResponse) -> HttpResponse:
    body = json.dumps(answer.body).encode() if answer.body is not None else b""
    response = HttpResponse(body, status=answer.status.value, content_type=answer.headers.get("Content-Type"))
    for header, value in answer.headers.items():
        if header.lower() != "content-type":
            response[header] = value
    return response
