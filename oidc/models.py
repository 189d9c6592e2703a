"""The relying apps and what Identity remembers about each authorization.

django-oauth-toolkit's Application and Grant are swapped for `Client` and `AuthorizationCode`
(settings OAUTH2_PROVIDER_APPLICATION_MODEL / _GRANT_MODEL) to carry what DOT does not know: which
scopes an app may ask for, its back-channel logout URI, and how the person authenticated when the
code was issued. `TokenFamily` is one code exchange and every refresh token rotated from it; it is
what reuse detection, absolute lifetimes, back-channel logout and "apps you authorised" work from.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import AbstractApplication, AbstractGrant

from . import keys
from .scopes import OFFLINE_ACCESS, OIDC_SCOPES

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uri_problem(uri: str) -> str | None:
    """Why a registered URI is unacceptable, or None. https only, except http on loopback (RFC 8252)."""
    parts = urlsplit(uri)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return _("%(uri)s is not an absolute https URL.") % {"uri": uri}
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return _("%(uri)s must use https (http is allowed only for loopback addresses).") % {"uri": uri}
    if "#" in uri or parts.username or parts.password:
        return _("%(uri)s must not contain a fragment or credentials.") % {"uri": uri}
    if "*" in (parts.hostname or ""):
        return _("%(uri)s must not contain wildcards.") % {"uri": uri}
    return None


class Client(AbstractApplication):
    """A relying app: a website or service that sends people here to sign in."""

    # ID tokens are always signed with Identity's RSA keys, never with a client secret (HS256).
    algorithm = models.CharField(
        _("algorithm"), max_length=5, choices=[("RS256", "RS256")], default="RS256", blank=True
    )
    allowed_scopes = models.CharField(
        _("allowed scopes"),
        max_length=255,
        default="openid email profile offline_access",
        help_text=_("Space-separated scopes this app may ask for."),
    )
    # Before offline_access was supported every code exchange came with a refresh token; apps
    # registered then keep that (migration 0004) until an admin switches it off.
    refresh_without_offline_access = models.BooleanField(
        _("refresh tokens without offline_access"),
        default=False,
        help_text=_(
            "For apps registered before offline_access was supported: a refresh token with every sign-in, "
            "asked for or not. Other apps get one only when they ask for offline_access and the person agrees."
        ),
    )
    backchannel_logout_uri = models.URLField(
        _("back-channel logout URI"),
        blank=True,
        help_text=_("Receives a signed logout token when a person signs out (OpenID Connect Back-Channel Logout)."),
    )

    # RFC 7662: only a resource server may introspect, and only tokens carrying a scope it serves.
    is_resource_server = models.BooleanField(
        _("resource server"),
        default=False,
        help_text=_("An API that checks access tokens at the introspection endpoint."),
    )
    served_scopes = models.CharField(
        _("served scopes"),
        max_length=255,
        blank=True,
        help_text=_(
            "Space-separated scopes this resource server serves: introspection tells it about a token only "
            "when the token carries one of them."
        ),
    )

    # Authorization (directory): who may sign in to the app, and what its tokens say about groups.
    assignment_required = models.BooleanField(
        _("assignment required"),
        default=False,
        help_text=_(
            "Only people assigned to this app (directly or through a group, with a role or default access) may "
            "sign in to it; the app gets access_denied for anyone else."
        ),
    )
    groups_claim = models.BooleanField(
        _("groups claim"),
        default=False,
        help_text=_("Tokens carry the ids of the person's groups in a groups claim (up to a limit, then a marker)."),
    )

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = _("relying app")
        verbose_name_plural = _("relying apps")

    def clean(self) -> None:
        errors: dict[str, list[StrOrPromise]] = {}
        try:
            super().clean()
        except ValidationError as error:
            errors.update({field: list(messages) for field, messages in error.message_dict.items()})
        for field in ("redirect_uris", "post_logout_redirect_uris"):
            for uri in getattr(self, field).split():
                problem = uri_problem(uri)
                if problem:
                    errors.setdefault(field, []).append(problem)
        if self.backchannel_logout_uri and (problem := uri_problem(self.backchannel_logout_uri)):
            errors.setdefault("backchannel_logout_uri", []).append(problem)
        if self.authorization_grant_type not in {self.GRANT_AUTHORIZATION_CODE, self.GRANT_CLIENT_CREDENTIALS}:
            errors.setdefault("authorization_grant_type", []).append(
                _("Only the authorization code and client credentials grants are offered.")
            )
        if (
            self.authorization_grant_type == self.GRANT_CLIENT_CREDENTIALS
            and self.client_type != self.CLIENT_CONFIDENTIAL
        ):
            errors.setdefault("client_type", []).append(_("Client credentials need a confidential client."))
        for field in ("allowed_scopes", "served_scopes"):
            unknown = set(getattr(self, field).split()) - set(settings.OAUTH2_PROVIDER["SCOPES"])
            if unknown:
                errors.setdefault(field, []).append(
                    _("Unknown scopes: %(scopes)s") % {"scopes": " ".join(sorted(unknown))}
                )
        self._check_resource_server(errors)
        errors.pop("algorithm", None)  # DOT checks OIDC_RSA_PRIVATE_KEY; our keys live in oidc.keys
        if errors:
            raise ValidationError(errors)

    def _check_resource_server(self, errors: dict[str, list[StrOrPromise]]) -> None:
        if not self.is_resource_server:
            if self.served_scopes.strip():
                errors.setdefault("served_scopes", []).append(_("Only a resource server serves scopes."))
            return
        if self.client_type != self.CLIENT_CONFIDENTIAL:
            errors.setdefault("is_resource_server", []).append(
                _("A resource server authenticates with a secret: it must be a confidential client.")
            )
        if not self.served_scopes.split():
            errors.setdefault("served_scopes", []).append(_("Name the scopes this resource server serves."))
        for scope in sorted(OIDC_SCOPES.intersection(self.served_scopes.split())):
            errors.setdefault("served_scopes", []).append(
                _(
                    "%(scope)s is an OpenID Connect scope that every app's tokens may carry; no resource server "
                    "serves it. Serve the scopes your API defines (OIDC_API_SCOPES)."
                )
                % {"scope": scope}
            )

    def serves(self, scopes: str) -> bool:
        """May this resource server learn about a token with these scopes (RFC 7662 §2.2)? Only through a
        scope an API defines: OpenID Connect's own would open every app's tokens, even on a row saved
        before they were refused."""
        served = set(self.served_scopes.split()) - OIDC_SCOPES
        return self.is_resource_server and bool(served.intersection(scopes.split()))

    def gets_refresh_token(self, scopes: list[str]) -> bool:
        """Does a code exchange for these scopes bring a refresh token? Only with offline_access (OpenID
        Connect Core 11), which reached the code only through consent or a first-party app; apps
        registered before offline_access was supported keep getting one with every exchange."""
        return OFFLINE_ACCESS in scopes or self.refresh_without_offline_access

    @property
    def jwk_key(self):
        return keys.signing_key()

    def get_allowed_schemes(self) -> list[str]:
        return ["https", "http"]  # http only ever matches a registered loopback URI (see clean)

    @property
    def scope_list(self) -> list[str]:
        return self.allowed_scopes.split()


class AuthContext(models.Model):
    """How and when the person authenticated (assurance.auth_context), kept for the ID tokens to come:
    on the code until it is exchanged, then on the token family for every refresh."""

    auth_time = models.PositiveBigIntegerField(null=True)
    amr = models.JSONField(default=list)
    acr = models.CharField(max_length=64, blank=True)
    session_ref = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True

    @staticmethod
    def fields_from(context: dict) -> dict:
        return {
            "auth_time": context.get("auth_time"),
            "amr": context.get("amr") or [],
            "acr": context.get("acr") or "",
            "session_ref": context.get("sid") or "",
        }

    def auth_context(self) -> dict:
        return {"auth_time": self.auth_time, "amr": self.amr, "acr": self.acr, "sid": self.session_ref}


class AuthorizationCode(AbstractGrant, AuthContext):
    """DOT's grant, plus how and when the person authenticated, for the ID token made from it."""

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class TokenFamily(AuthContext):
    """One code exchange and every refresh token rotated from it (DOT's `token_family`); without
    offline_access the exchange has no refresh token, and the family is its one access token."""

    family = models.UUIDField(unique=True)
    client = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, db_index=True)
    session_ref = models.CharField(max_length=64, blank=True, db_index=True)  # sessions end by it
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    access_token = models.OneToOneField(
        settings.OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["user", "client"], name="oidc_family_user_client_idx")]


class Consent(models.Model):
    """A person agreed that an app may have these scopes; asked again only for more."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    scopes = models.CharField(max_length=255)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="oidc_consent_unique")]

    def covers(self, scopes) -> bool:
        return set(scopes) <= set(self.scopes.split())


class PendingLogout(models.Model):
    """A back-channel logout that could not be handed to Celery (the broker was down); the beat sweep
    hands it over once the broker answers again, so an outage delays a logout but never loses it."""

    client = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
