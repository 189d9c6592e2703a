"""The one SCIM view. No session, no cookie, no CSRF token: a SCIM client authenticates each request
by its bearer token."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
@never_cache
def scim_endpoint(request: HttpRequest, path: str = "") -> HttpResponse:
    # Imported at the first SCIM request: scim2-models builds its pydantic models on import (about a
    # second), which every process loading the URLs (each web worker, manage.py) would pay otherwise.
    from .endpoint import answer

    return answer(request, path)
