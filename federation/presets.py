"""What each kind of provider is: its defaults (name, issuer, scopes), which settings apply to it, how
they are validated, and its own rules for the ID token (client.py asks these).

- Generic OpenID Connect: the issuer is exactly what its ID tokens and discovery document say.
- Google: issuer https://accounts.google.com. Google documents that its ID tokens carry that `iss`
  or the same without the scheme (`accounts.google.com`): exactly those two pass, for this kind only.
- Microsoft Entra ID: the issuer field holds the authority, `<base>/<tenant ID>/v2.0` for one tenant,
  or `<base>/organizations/v2.0` (`/common/v2.0`) for many. A many-tenant discovery document names the
  template `<base>/{tenantid}/v2.0` as its issuer; each ID token's `iss` must then be that template
  filled with the token's own `tid`, and `tid` one of `allowed_tenants` when those are set: a token
  from any tenant must not pass just because discovery says "organizations". Entra's `email` claim
  is not verified (a tenant's admin or user sets it): it counts as verified only when the optional
  claim `xms_edov` (the email domain's owner verified it) is JSON true.
- GitHub: OAuth 2.0, no ID token (github.py); the issuer field holds the base address (github.com or
  a GitHub Enterprise Server).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    from .models import Provider

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ENTRA_BASE = "https://login.microsoftonline.com"
ENTRA_MANY = ("organizations", "common")
# Where a many-tenant discovery document puts the tenant in its `issuer`, literally.
ENTRA_TEMPLATE = "{tenantid}"
_ENTRA_PATH = re.compile(r"/(?P<tenant>[^/]+)/v2\.0")


@dataclass(frozen=True)
class Preset:
    kind: str
    name: str
    issuer: str
    scopes: str
    label: _StrPromise  # what the admin's choice of kind says about it
    issuer_label: _StrPromise
    issuer_help: _StrPromise
    fields: tuple[str, ...] = ()  # settings beyond the common ones that apply to this kind
    openid: bool = True  # OpenID Connect (discovery, ID token); False: GitHub's plain OAuth 2.0

    def defaults(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "issuer": self.issuer, "scopes": self.scopes}


PRESETS = {
    preset.kind: preset
    for preset in (
        Preset(
            "oidc",
            "",
            "",
            "openid email profile",
            _("Any provider that speaks OpenID Connect and publishes its discovery document."),
            _("issuer"),
            _(
                "Exactly as the provider's ID tokens say it; discovery is read from issuer + "
                "/.well-known/openid-configuration."
            ),
            fields=("trust_upstream_mfa",),
        ),
        Preset(
            "google",
            "Google",
            "https://accounts.google.com",
            "openid email profile",
            _("Google accounts, also Google Workspace."),
            _("issuer"),
            _("https://accounts.google.com (leave it as it is)."),
        ),
        Preset(
            "entra",
            "Microsoft",
            f"{ENTRA_BASE}/organizations/v2.0",
            "openid email profile",
            _("Work and school accounts of one Microsoft Entra ID tenant, or of many."),
            _("authority"),
            _(
                "https://login.microsoftonline.com/<tenant ID>/v2.0 for one tenant; "
                "https://login.microsoftonline.com/organizations/v2.0 for the work and school accounts of any "
                "tenant, .../common/v2.0 for those and personal Microsoft accounts."
            ),
            fields=("allowed_tenants", "trust_upstream_mfa"),
        ),
        Preset(
            "github",
            "GitHub",
            "https://github.com",
            "read:user user:email",
            _("GitHub accounts (github.com or a GitHub Enterprise Server): only a verified primary address counts."),
            _("address"),
            _("https://github.com, or your GitHub Enterprise Server's address."),
            openid=False,
        ),
    )
}


def preset_for(kind: str) -> Preset:
    return PRESETS.get(kind, PRESETS["oidc"])


# Validation of a provider's settings for its kind (Provider.clean, the admin form and the command).


def errors(provider: Provider) -> dict[str, Any]:
    """What is wrong with a provider's settings for its kind: {field: message}."""
    preset = preset_for(provider.kind)
    found: dict[str, Any] = {}
    scopes = provider.scopes.split()
    if preset.openid and "openid" not in scopes:
        found["scopes"] = _('The scopes must include "openid".')
    if provider.kind == "github" and not {"user", "user:email"} & set(scopes):
        found["scopes"] = _('The scopes must include "user:email": without it GitHub shows no verified address.')
    if provider.kind == "github" and provider.trust_upstream_mfa:
        found["trust_upstream_mfa"] = _("GitHub does not say how its users signed in: its second factors cannot count.")
    if provider.kind == "google" and provider.trust_upstream_mfa:
        found["trust_upstream_mfa"] = _("Google's ID tokens do not say how its users signed in (no amr).")
    if provider.kind in ("google", "github") and _path(provider.issuer) not in ("", "/"):
        found["issuer"] = _("Only the scheme and host, without a path.")
    if provider.kind == "entra":
        tenant = entra_tenant(provider.issuer)
        if tenant is not None and _path(provider.issuer) != f"/{tenant}/v2.0":
            found["issuer"] = _("Write the tenant ID in lower case, as Entra's ID tokens have it.")
        elif tenant is None:
            found["issuer"] = _(
                "The authority must be <base>/<tenant ID>/v2.0, <base>/organizations/v2.0 or <base>/common/v2.0 "
                "(the tenant ID is the directory's GUID)."
            )
        elif provider.allowed_tenants.strip() and tenant not in ENTRA_MANY:
            found["allowed_tenants"] = _("Only for an authority of many tenants (organizations or common).")
        bad = [item for item in _items(provider.allowed_tenants) if not GUID.fullmatch(item)]
        if bad:
            found["allowed_tenants"] = _("Not a tenant ID (a GUID): %(items)s.") % {"items": ", ".join(bad)}
    elif provider.allowed_tenants.strip():
        found["allowed_tenants"] = _("Only for Microsoft Entra ID.")
    return found


def _path(url: str) -> str:
    return urlsplit(url).path


def _items(value: str) -> list[str]:
    return [item.lower() for item in value.replace(",", " ").split()]


# The ID token's rules per kind (client.py).


def entra_tenant(issuer: str) -> str | None:
    """The tenant of an Entra authority (a GUID, "organizations" or "common"), or None if it is none."""
    match = _ENTRA_PATH.fullmatch(_path(issuer))
    tenant = match["tenant"].lower() if match else ""
    return tenant if tenant in ENTRA_MANY or GUID.fullmatch(tenant) else None


def _entra_base(issuer: str) -> str:
    url = urlsplit(issuer)
    return f"{url.scheme}://{url.netloc}"


def entra_many(provider: Provider) -> bool:
    return provider.kind == "entra" and entra_tenant(provider.issuer) in ENTRA_MANY


def discovery_issuer(provider: Provider) -> str:
    """The `issuer` the provider's discovery document must name (Discovery 1.0, section 4.3)."""
    if entra_many(provider):
        return f"{_entra_base(provider.issuer)}/{ENTRA_TEMPLATE}/v2.0"
    return provider.issuer


def response_issuer_ok(provider: Provider, iss: str) -> bool:
    """RFC 9207: the authorization response's `iss` names who sent it. For Entra with many tenants it is
    the tenant's issuer, which the ID token's rules then pin (`claims_options`)."""
    if entra_many(provider):
        return _entra_tenant_of(provider, iss) is not None
    return iss == provider.issuer


def links_issuer(provider: Provider, iss: str) -> bool:
    """Whether `iss`, as this provider's links store it (`vouched`, github.py), is this provider's now:
    Entra with many tenants stores each tenant's own issuer (its tenant still allowed), GitHub its base
    without a trailing "/", the rest the configured issuer."""
    if provider.kind == "github":
        return iss == provider.issuer.rstrip("/")
    if entra_many(provider):
        tenant = _entra_tenant_of(provider, iss)
        allowed = set(_items(provider.allowed_tenants))
        return tenant is not None and (not allowed or tenant in allowed)
    return iss == provider.issuer


def _entra_tenant_of(provider: Provider, iss: str) -> str | None:
    base = _entra_base(provider.issuer)
    if not iss.startswith(base + "/"):
        return None
    tenant = entra_tenant(iss)
    return tenant if tenant and GUID.fullmatch(tenant) and iss == f"{base}/{tenant}/v2.0" else None


def claims_options(provider: Provider) -> dict[str, Any]:
    """authlib's claims options for the ID token: `iss` and `aud` are always pinned (authlib alone checks
    `iss` against discovery, which for Entra's many tenants is a template, and `aud` only through `azp`)."""
    options: dict[str, Any] = {"aud": {"essential": True, "value": provider.client_id}}
    if provider.kind == "google":
        # Google documents both forms of its issuer; exactly these two (its host is the issuer's).
        options["iss"] = {"essential": True, "values": [provider.issuer, urlsplit(provider.issuer).netloc]}
    elif provider.kind == "entra":
        allowed = set(_items(provider.allowed_tenants))
        tenant = entra_tenant(provider.issuer)

        def tenant_allowed(claims: Any, tid: Any) -> bool:
            if not isinstance(tid, str) or not GUID.fullmatch(tid):
                return False
            if tenant not in ENTRA_MANY:
                return tid == tenant
            return not allowed or tid in allowed

        def issuer_of_its_tenant(claims: Any, iss: Any) -> bool:
            if tenant not in ENTRA_MANY:
                return iss == provider.issuer
            return isinstance(iss, str) and iss == f"{_entra_base(provider.issuer)}/{claims.get('tid')}/v2.0"

        options["iss"] = {"essential": True, "validate": issuer_of_its_tenant}
        options["tid"] = {"essential": True, "validate": tenant_allowed}
    else:
        options["iss"] = {"essential": True, "value": provider.issuer}
    return options


def vouched(provider: Provider, claims: dict[str, Any]) -> dict[str, Any]:
    """The validated claims as the linking rules read them. Google's `iss` is its issuer in one form,
    so both forms find the same link. Entra's `email` is whatever the tenant set:
    verified only when `xms_edov` is JSON true; whatever `email_verified` it might send is ignored."""
    if provider.kind == "google":
        claims["iss"] = provider.issuer  # one link whichever of its two forms the token used
    if provider.kind == "entra":
        claims["email_verified"] = claims.get("xms_edov") is True
    return claims
