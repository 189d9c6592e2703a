"""Scopes: the settings list, narrowed to what each relying app was registered for."""

from django.conf import settings
from django.utils.translation import gettext_noop
from oauth2_provider.scopes import SettingsScopes

# OpenID Connect Core 11: asked for (and consented to) when the app wants a refresh token.
OFFLINE_ACCESS = "offline_access"

# OpenID Connect's own scopes, about the person: meaningless for a machine client (client credentials),
# which acts as itself, and served by no API, since every app's token carries them (review R8). The
# scopes an API may serve are the others, those of OIDC_API_SCOPES.
OIDC_SCOPES = frozenset(settings.OIDC_SCOPES)


class ClientScopes(SettingsScopes):
    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        everything = super().get_available_scopes(application, request, *args, **kwargs)
        if application is None:
            return everything
        allowed = set(application.scope_list)
        if application.authorization_grant_type == application.GRANT_CLIENT_CREDENTIALS:
            allowed -= OIDC_SCOPES
        return [scope for scope in everything if scope in allowed]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        defaults = super().get_default_scopes(application, request, *args, **kwargs)
        if application is None:
            return defaults
        available = self.get_available_scopes(application, request)
        return [scope for scope in defaults if scope in available]


# The descriptions in settings.OIDC_SCOPES, marked here for translation (the consent page
# translates them when it shows them).
gettext_noop("Sign you in and know who you are")
gettext_noop("See your email address")
gettext_noop("See your name")
gettext_noop("Keep access while you are away")
gettext_noop("See your roles and groups in this app")
