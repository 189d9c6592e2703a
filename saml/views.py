"""The URLs' views: each hands the request to saml.endpoints, imported at the first SAML request.
pysaml2 loads its XML schemas when imported (about a second), which every process start (gunicorn
workers, Celery, manage.py commands) would otherwise pay, SAML used or not (tests/saml/test_library_hooks.py)."""

from __future__ import annotations

from django.views.decorators.csrf import csrf_exempt


def _endpoints():
    from . import endpoints  # loads pysaml2: see above

    return endpoints


def idp_metadata(request):
    return _endpoints().idp_metadata(request)


@csrf_exempt  # the SP's page posts the request (HTTP-POST binding); nothing here acts on a session yet
def single_sign_on(request):
    return _endpoints().single_sign_on(request)


def sign_on(request):
    return _endpoints().sign_on(request)


def start(request, pk: int):
    return _endpoints().start(request, pk)


@csrf_exempt  # the SP's page posts the request (HTTP-POST binding); its signature, not a cookie, vouches
def single_logout(request):
    return _endpoints().single_logout(request)
