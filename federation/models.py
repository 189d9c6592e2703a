"""Upstream identity providers, and which of their people is which of ours.

A person is linked to a provider by the pair (issuer, subject) the provider's ID token names, never
by email: an address is a claim a provider may let its users change, and matching on it would let
anyone who controls an account there with a victim's address sign in as the victim."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import presets
from .crypto import seal, unseal

DISCOVERY_PATH = "/.well-known/openid-configuration"


class Provider(models.Model):
    """An upstream identity provider: a generic OpenID Connect provider found by discovery at its
    issuer, or one of the presets (`Kind`). The client secret is kept encrypted (crypto.py) and is never
    shown again once entered."""

    class Kind(models.TextChoices):
        OIDC = "oidc", _("OpenID Connect")
        GOOGLE = "google", _("Google")
        ENTRA = "entra", _("Microsoft Entra ID")
        GITHUB = "github", _("GitHub")

    slug = models.SlugField(
        _("slug"), max_length=20, unique=True, help_text=_("Part of its addresses: /accounts/federation/<slug>/.")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.OIDC)
    name = models.CharField(_("name"), max_length=60, help_text=_('What its button says: "Continue with <name>".'))
    issuer = models.URLField(
        _("issuer"),
        max_length=300,
        help_text=_("Exactly as the provider's ID tokens say it; discovery is read from issuer + %(path)s.")
        % {"path": DISCOVERY_PATH},
    )
    client_id = models.CharField(_("client ID"), max_length=300)
    client_secret_sealed = models.TextField(_("client secret (encrypted)"), blank=True, editable=False)
    scopes = models.CharField(_("scopes"), max_length=300, default="openid email profile")
    enabled = models.BooleanField(_("enabled"), default=True, help_text=_("Off: nobody signs in through it, at once."))
    may_create_accounts = models.BooleanField(
        _("may create accounts"),
        default=False,
        help_text=_("A person it vouches for (verified address, allowed domain) who has no account here gets one."),
    )
    allowed_email_domains = models.CharField(
        _("allowed email domains"),
        max_length=500,
        blank=True,
        help_text=_("Separated by spaces or commas; accounts are created only for these. Blank: any domain."),
    )
    allowed_tenants = models.CharField(
        _("allowed tenants"),
        max_length=1000,
        blank=True,
        help_text=_("Microsoft Entra ID for many tenants: the tenant IDs whose people may sign in. Blank: any tenant."),
    )
    bound_domains = models.CharField(
        _("bound email domains"),
        max_length=500,
        blank=True,
        help_text=_(
            "Separated by spaces or commas. People whose address is in one of these domains are sent to this "
            "provider to sign in, and cannot sign up with a password."
        ),
    )
    trust_upstream_mfa = models.BooleanField(
        _("trust its second factors"),
        default=False,
        help_text=_(
            "On: when its ID token says the person used more than a password there (amr), that counts as a "
            "second factor here. Off (the default): a sign-in through it is one factor."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("sign-in provider")
        verbose_name_plural = _("sign-in providers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        found = presets.errors(self)  # what its kind asks of it (openid in the scopes, Entra's authority, ...)
        if self.slug in RESERVED_SLUGS:
            found["slug"] = _("This slug is one of the sign-in pages' own addresses.")
        if found:
            raise ValidationError(found)
        validate_bound_domains(self.bound_domains, self)

    @property
    def client_secret(self) -> str:
        return unseal(self.client_secret_sealed)

    @client_secret.setter
    def client_secret(self, secret: str) -> None:
        self.client_secret_sealed = seal(secret)

    @property
    def discovery_url(self) -> str:
        # OpenID Connect Discovery 1.0, section 4: a terminating "/" of the issuer is removed first.
        return self.issuer.rstrip("/") + DISCOVERY_PATH

    def bound(self) -> set[str]:
        """The domains whose addresses sign in here (home-realm discovery, federation/realm.py)."""
        return set(self.bound_domains.replace(",", " ").split())

    def domains(self) -> set[str]:
        return {domain.lower().lstrip("@") for domain in self.allowed_email_domains.replace(",", " ").split()}

    def allows_domain(self, email: str) -> bool:
        allowed = self.domains()
        return not allowed or email.rpartition("@")[2].lower() in allowed


# Addresses under /accounts/federation/ that are not a provider's (verify.py's pages).
RESERVED_SLUGS = {"verify"}

# A domain name as DNS has it (RFC 1123 labels), lowercase, at least two labels.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")


def validate_bound_domains(value: str, provider: Provider) -> None:
    """Bound domains are written as DNS names, lowercase and without "@" (the admin sees exactly what
    is matched), and a domain is bound to one provider only: home-realm discovery must have a single
    answer, and the provider a domain is bound to is the one trusted to vouch for its addresses."""
    errors = []
    for domain in value.replace(",", " ").split():
        if "@" in domain:
            errors.append(_("Write %(domain)s without the “@”.") % {"domain": domain})
        elif domain != domain.lower():
            errors.append(_("Write %(domain)s in lowercase.") % {"domain": domain})
        elif not _DOMAIN.match(domain):
            errors.append(_("%(domain)s is not a domain name.") % {"domain": domain})
    if errors:
        raise ValidationError({"bound_domains": errors})
    for other in Provider.objects.exclude(pk=provider.pk).exclude(bound_domains=""):
        taken = sorted(provider.bound() & other.bound())
        if taken:
            raise ValidationError(
                {
                    "bound_domains": _(
                        "%(domains)s is already bound to %(provider)s: a domain signs in with one provider only."
                    )
                    % {"domains": ", ".join(taken), "provider": other.name}
                }
            )


class UpstreamLink(models.Model):
    """This account is the person a provider calls `subject` (under `issuer`)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upstream_links", verbose_name=_("user")
    )
    # PROTECT: deleting a provider would silently strand the accounts it created; disable it instead.
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="links", verbose_name=_("provider"))
    issuer = models.CharField(_("issuer"), max_length=300)
    subject = models.CharField(_("subject"), max_length=255)
    # The address the provider gave when the link was made: shown to its owner ("Google · a@example.com")
    # and in admin, never used to find an account.
    email = models.CharField(_("address at the provider"), max_length=254, blank=True)
    created_at = models.DateTimeField(_("linked"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("upstream link")
        verbose_name_plural = _("upstream links")
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="upstream_link_unique")]

    def __str__(self) -> str:
        return f"{self.provider} · {self.subject}"
