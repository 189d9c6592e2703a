"""Which API an access token is for: RFC 8707's `resource` selects it, RFC 9068's `aud` names it.

An API's scopes are its own (a scope value belongs to one API), so the API scopes a request asks for
name their API; `resource`, when sent, must be that API. One API per token: scopes of two APIs in one
request are refused, as are an unknown resource and a resource the scopes do not belong to
(`invalid_target`, RFC 8707 §2). A token without API scopes has no audience: it stays opaque, for
userinfo.
"""

from __future__ import annotations

from oauthlib.oauth2.rfc6749 import errors

from .models import Api, ApiScope
from .scopes import OIDC_SCOPES


class InvalidTarget(errors.CustomOAuth2Error):
    def __init__(self, description: str, request=None):
        super().__init__(error="invalid_target", description=description, request=request)


def requested_resources(request) -> list[str]:
    """Every `resource` of an oauthlib request, from its query (authorization) and body (token): oauthlib
    keeps only the last of repeated parameters."""
    in_query = [value for key, value in request.uri_query_params if key == "resource"]
    in_body = [value for key, value in (request.decoded_body or []) if key == "resource"]
    return in_query + in_body


def owners(scopes) -> set[Api]:
    """The APIs whose scopes these are. Never through OpenID Connect's own, which every app's token
    carries, even for a row saved without validation (review R8): they would open every token to an API."""
    asked = set(scopes) - OIDC_SCOPES
    if not asked:  # the common case (sign-in, refresh): no query
        return set()
    api_scopes = ApiScope.objects.filter(value__in=list(asked))
    return {scope.api for scope in api_scopes.select_related("api")}


def select_api(scopes, resources: list[str], request=None) -> Api | None:
    """The API a token for these scopes is for, or None (no API scopes, no resource). Raises InvalidTarget."""
    apis = owners(scopes)
    if len(resources) > 1:
        raise InvalidTarget("Name one resource (API) per request.", request)
    if resources:
        api = Api.objects.filter(identifier=resources[0]).first()
        if api is None:
            raise InvalidTarget("No API is registered with this resource identifier.", request)
        if apis - {api}:
            raise InvalidTarget("The scopes asked for are not all the named resource's.", request)
        if not apis:
            raise InvalidTarget("Ask for at least one scope of the named resource.", request)
        return api
    if len(apis) > 1:
        raise InvalidTarget("These scopes belong to more than one API: ask for one API's scopes.", request)
    return next(iter(apis), None)


def token_api(request) -> Api | None:
    """The API of the token being issued, from its final scopes (a refresh may narrow them to none)."""
    apis = owners(request.scopes or [])
    return next(iter(apis)) if len(apis) == 1 else None


def token_owner(token) -> Api | None:
    """The API a stored access token is for: its audience (`resource`), or, for tokens issued before
    APIs had identifiers, the API its scopes belong to."""
    if token.resource:
        return Api.objects.filter(identifier__in=token.resource).select_related("resource_server").first()
    apis = owners(token.scope.split())
    return next(iter(apis)) if len(apis) == 1 else None
