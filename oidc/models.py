"""The relying apps and what Identity remembers about each authorization.

django-oauth-toolkit's Application and Grant are swapped for `Client` and `AuthorizationCode`
(settings OAUTH2_PROVIDER_APPLICATION_MODEL / _GRANT_MODEL) to carry what DOT does not know: which
scopes an app may ask for, its back-channel logout URI, and how the person authenticated when the
code was issued. `TokenFamily` is one code exchange and every refresh token rotated from it; it is
what reuse detection, absolute lifetimes, back-channel logout and "apps you authorised" work from.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import AbstractApplication, AbstractGrant

from . import keys, rows
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


class SigningAlgorithm(models.TextChoices):
    """How an app's ID and logout tokens, or an API's access tokens, are signed: with one of Identity's
    own keys (oidc.keys), never with a client secret (HS256)."""

    ES256 = "ES256", _("ES256 (ECDSA with P-256)")
    RS256 = "RS256", _("RS256 (RSA)")


def algorithm_problem(algorithm: str) -> StrOrPromise | None:
    """Why tokens cannot be signed with `algorithm` now, or None: the keyset has no active key for it
    (a keyset from before ES256). A keyset that cannot be read at all is oidc.E001's to report."""
    try:
        missing = keys.missing_algorithms()
    except keys.KeysetUnavailable:
        return None
    if algorithm not in missing:
        return None
    return _(
        "The signing keyset has no active %(algorithm)s key yet: run `manage.py rotate_signing_key` "
        "first, or choose another algorithm."
    ) % {"algorithm": algorithm}


class Client(AbstractApplication):
    """A relying app: a website or service that sends people here to sign in.

    Every app is one of these, whatever protocol it speaks: a SAML service provider (saml/) is a
    `Client` with protocol "saml" and its SAML settings beside it, so roles, assignments and "assignment
    required" work the same for both. Such a client is no OAuth client: `is_usable` refuses it to
    every OAuth endpoint."""

    class Protocol(models.TextChoices):
        OIDC = "oidc", _("OpenID Connect")
        SAML = "saml", _("SAML 2.0")

    protocol = models.CharField(
        _("protocol"), max_length=8, choices=Protocol.choices, default=Protocol.OIDC, editable=False
    )

    # Apps registered before ES256 keep RS256 (migration 0011).
    algorithm = models.CharField(
        _("signing algorithm"),
        max_length=5,
        choices=SigningAlgorithm.choices,
        default=SigningAlgorithm.ES256,
        help_text=_(
            "How its ID tokens and logout tokens are signed. ES256 costs Identity far less per token; choose "
            "RS256 only for an app whose OpenID Connect library verifies nothing else."
        ),
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

    # API scopes this app may ask for (client credentials: what a machine gets); OpenID Connect's own
    # are in allowed_scopes.
    granted_scopes = models.ManyToManyField(
        "ApiScope",
        blank=True,
        related_name="clients",
        verbose_name=_("granted API scopes"),
        help_text=_("Scopes of registered APIs this app may ask for (a machine client gets them all)."),
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
        unknown = set(self.allowed_scopes.split()) - OIDC_SCOPES
        if unknown:
            errors.setdefault("allowed_scopes", []).append(
                _("Unknown scopes: %(scopes)s (an API's scopes are granted below, under granted API scopes)")
                % {"scopes": " ".join(sorted(unknown))}
            )
        errors.pop("algorithm", None)  # DOT checks OIDC_RSA_PRIVATE_KEY; our keys live in oidc.keys
        if self.protocol == self.Protocol.OIDC and (unsignable := algorithm_problem(self.algorithm)):
            errors.setdefault("algorithm", []).append(unsignable)
        if errors:
            raise ValidationError(errors)

    def is_usable(self, request) -> bool:
        """DOT asks before any OAuth use (authorize, token, introspection, a bearer token's app)."""
        return self.protocol == self.Protocol.OIDC

    @property
    def is_resource_server(self) -> bool:
        """May it introspect (RFC 7662)? Only as the resource server an API names."""
        return self.pk is not None and Api.objects.filter(resource_server=self).exists()

    def gets_refresh_token(self, scopes: list[str]) -> bool:
        """Does a code exchange for these scopes bring a refresh token? Only with offline_access (OpenID
        Connect Core 11), which reached the code only through consent or a first-party app; apps
        registered before offline_access was supported keep getting one with every exchange."""
        return OFFLINE_ACCESS in scopes or self.refresh_without_offline_access

    @property
    def jwk_key(self):
        """DOT's idea of the one key that signs the app's tokens (oidc.signing is what signs them)."""
        return keys.active_key(self.algorithm).key

    def get_allowed_schemes(self) -> list[str]:
        return ["https", "http"]  # http only ever matches a registered loopback URI (see clean)

    @property
    def scope_list(self) -> list[str]:
        """Every scope the app may ask for: OpenID Connect's it was allowed, and the API scopes granted
        (read on every token request: SQL built once, oidc.rows)."""
        return [*self.allowed_scopes.split(), *(_GRANTED_SCOPES([self.pk]) if self.pk else [])]


def _granted_scopes_sql() -> str:
    through = Client.granted_scopes.through
    scope, client = (rows.column(through, name) for name in ("apiscope", "client"))
    return (
        f"SELECT s.value FROM {rows.table(ApiScope)} s JOIN {rows.table(through)} g ON g.{scope} = s.id"  # noqa: S608
        f" WHERE g.{client} = %s ORDER BY s.value"
    )


_GRANTED_SCOPES = rows.Values(_granted_scopes_sql)


# RFC 6749 §3.3: a scope-token is printable ASCII but space, double quote and backslash.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# RFC 8141: urn:<NID>:<NSS>.
URN = re.compile(r"urn:[a-z0-9][a-z0-9-]{0,31}:\S+", re.IGNORECASE)


def identifier_problem(identifier: str) -> StrOrPromise | None:
    """Why an API's identifier (the `aud` of its tokens, the `resource` apps name) is unacceptable, or
    None: an absolute https URL without fragment or credentials, or a URN."""
    if URN.fullmatch(identifier):
        return None
    parts = urlsplit(identifier)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password or "#" in identifier:
        return _("Use an https URL (without fragment or credentials) or a URN, e.g. https://api.example.com/mail.")
    return None


class Api(models.Model):
    """An API (a resource server): the audience of the access tokens apps get for its scopes (RFC 8707's
    `resource`, RFC 9068's `aud`). Its resource server, a confidential client, is the one that may
    introspect those tokens."""

    name = models.CharField(_("name"), max_length=100)
    identifier = models.CharField(
        _("identifier"),
        max_length=255,
        unique=True,
        help_text=_("The audience URI its tokens carry (aud) and apps name as resource: https://… or urn:…"),
    )
    description = models.TextField(_("description"), blank=True)
    resource_server = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="apis_served",
        verbose_name=_("resource server"),
        help_text=_("The confidential client that may introspect this API's tokens (RFC 7662)."),
    )
    # APIs registered before ES256 keep RS256 (migration 0011): they may check the algorithm.
    algorithm = models.CharField(
        _("signing algorithm"),
        max_length=5,
        choices=SigningAlgorithm.choices,
        default=SigningAlgorithm.ES256,
        help_text=_(
            "How its access tokens (JWTs) are signed. ES256 costs Identity far less per token; choose RS256 only "
            "for an API whose JWT library verifies nothing else."
        ),
    )
    created = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("API")
        verbose_name_plural = _("APIs")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier})"

    def clean(self) -> None:
        errors: dict[str, list[StrOrPromise]] = {}
        if problem := identifier_problem(self.identifier):
            errors["identifier"] = [problem]
        if self.resource_server is not None and self.resource_server.client_type != Client.CLIENT_CONFIDENTIAL:
            errors["resource_server"] = [
                _("A resource server authenticates with a secret: it must be a confidential client.")
            ]
        if problem := algorithm_problem(self.algorithm):
            errors["algorithm"] = [problem]
        if errors:
            raise ValidationError(errors)


class ApiScope(models.Model):
    """One scope of an API: what people consent to and apps are granted. Its value is unique across
    APIs, so a token's scopes name its API."""

    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="scopes", verbose_name=_("API"))
    value = models.CharField(_("value"), max_length=100, unique=True)
    description = models.CharField(
        _("description"), max_length=255, help_text=_("What the consent page says, e.g. “Read your mail”.")
    )

    class Meta:
        verbose_name = _("API scope")
        verbose_name_plural = _("API scopes")
        ordering = ["value"]

    def __str__(self) -> str:
        return self.value

    def clean(self) -> None:
        if self.value in OIDC_SCOPES:
            raise ValidationError(
                {
                    "value": _(
                        "%(scope)s is an OpenID Connect scope that every app's tokens may carry; no resource server "
                        "serves it. Give the API scopes of its own."
                    )
                    % {"scope": self.value}
                }
            )
        if not SCOPE_TOKEN.fullmatch(self.value):
            raise ValidationError({"value": _("A scope is one word: no spaces, quotes or backslashes.")})


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
    hands it over once the broker answers again, so an outage delays a logout but never loses it. It
    names the person by subject, not by row: the logout of an account being deleted outlives the row."""

    client = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    subject = models.UUIDField()
    sid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
