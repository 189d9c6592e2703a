"""Scopes: OpenID Connect's (settings.OIDC_SCOPES) and the registered APIs' (oidc.models.ApiScope),
narrowed to what each relying app was allowed and granted."""

from django.conf import settings
from django.utils.translation import gettext_noop
from oauth2_provider.scopes import BaseScopes

# OpenID Connect Core 11: asked for (and consented to) when the app wants a refresh token.
OFFLINE_ACCESS = "offline_access"

# OpenID Connect's own scopes, about the person: meaningless for a machine client (client credentials),
# which acts as itself, and served by no API, since every app's token carries them (review R8). The
# scopes an API may serve are its own (ApiScope).
OIDC_SCOPES = frozenset(settings.OIDC_SCOPES)


class ClientScopes(BaseScopes):
    def get_all_scopes(self) -> dict[str, str]:
        # oidc.models imports this module's constants: the model is read when the backend runs.
        from .models import ApiScope

        return {**dict(ApiScope.objects.values_list("value", "description")), **settings.OIDC_SCOPES}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            # Asked by the discovery document only: OpenID Connect's scopes (the registered APIs' are
            # theirs to document), read without the database.
            return list(settings.OIDC_SCOPES)
        allowed = set(application.scope_list)
        if application.authorization_grant_type == application.GRANT_CLIENT_CREDENTIALS:
            allowed -= OIDC_SCOPES
        return sorted(allowed)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        """openid for people; for a machine (client credentials), every API scope it was granted, those of
        the `resource` it names if it names one (its API is then checked with the scopes, oidc.audience)."""
        if application is None:
            return list(settings.OAUTH2_PROVIDER["DEFAULT_SCOPES"])
        if application.authorization_grant_type != application.GRANT_CLIENT_CREDENTIALS:
            available = self.get_available_scopes(application, request)
            return [scope for scope in settings.OAUTH2_PROVIDER["DEFAULT_SCOPES"] if scope in available]
        granted = application.granted_scopes.select_related("api")
        resource = getattr(request, "resource", None) if request is not None else None
        if isinstance(resource, str):
            granted = granted.filter(api__identifier=resource)
        return sorted(granted.values_list("value", flat=True))


def still_available(client, scopes) -> list[str]:
    """The scopes an app may still ask for: a code or a refresh token carries those it was allowed or
    granted when it was issued, and an admin may since have withdrawn one (an API's scope above all)."""
    available = set(ClientScopes().get_available_scopes(application=client))
    return [scope for scope in scopes if scope in available]


# The descriptions in settings.OIDC_SCOPES, marked here for translation (the consent page
# translates them when it shows them).
gettext_noop("Sign you in and know who you are")
gettext_noop("See your email address")
gettext_noop("See your name")
gettext_noop("Keep access while you are away")
gettext_noop("See your roles and groups in this app")
