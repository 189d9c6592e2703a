"""SAML 2.0 service providers, the pairwise ids people have at each, and the sign-ons SLO works from.

A service provider is an app like any other: a `SamlApp` (oidc's `Client` with protocol "saml"), so
roles, assignments and "assignment required" (directory) are the same for it as for a relying app. What
is SAML's own sits beside it in `ServiceProvider`: the SP's metadata as registered (entity id, ACS
URLs and bindings, its certificates; pysaml2 reads them from the XML) and what we release to it.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from oidc.models import Client

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


class SamlAppManager(models.Manager["SamlApp"]):
    def get_queryset(self):
        return super().get_queryset().filter(protocol=Client.Protocol.SAML)


class SamlApp(Client):
    """The app a SAML service provider is: listed, assigned and given roles like a relying app."""

    objects: SamlAppManager = SamlAppManager()

    class Meta:
        proxy = True
        verbose_name = _("SAML app")
        verbose_name_plural = _("SAML apps")

    def clean(self) -> None:
        """Nothing of Client's: its checks are OAuth's (redirect URIs, grants, scopes), which a SAML app
        has none of; its SAML side is checked with its metadata (saml.registration.checked)."""

    def save(self, *args, **kwargs):
        self.protocol = Client.Protocol.SAML
        if not self.pk:
            # Never an OAuth client (Client.is_usable refuses it); these only satisfy DOT's columns.
            self.client_type = Client.CLIENT_CONFIDENTIAL
            self.authorization_grant_type = Client.GRANT_AUTHORIZATION_CODE
            self.redirect_uris = ""
            self.client_secret = secrets.token_urlsafe(32)
        super().save(*args, **kwargs)


class ServiceProvider(models.Model):
    """What Identity knows about one SAML service provider, and what it tells it."""

    class NameIdFormat(models.TextChoices):
        PERSISTENT = NAMEID_PERSISTENT, _("Persistent (a pairwise id for this app, never the email)")
        EMAIL = NAMEID_EMAIL, _("Email address")

    app = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="service_provider", verbose_name=_("app"))
    entity_id = models.CharField(_("entity id"), max_length=1024, unique=True, editable=False)
    metadata_xml = models.TextField(
        _("metadata"), help_text=_("The service provider's SAML metadata (an EntityDescriptor), as it publishes it.")
    )
    metadata_url = models.URLField(
        _("metadata URL"), max_length=1024, blank=True, help_text=_("Where the metadata was fetched from, if it was.")
    )
    name_id_format = models.CharField(
        _("NameID format"), max_length=100, choices=NameIdFormat.choices, default=NameIdFormat.PERSISTENT
    )
    release_email = models.BooleanField(_("release email"), default=True)
    release_name = models.BooleanField(_("release name"), default=True)
    release_groups = models.BooleanField(
        _("release groups"), default=False, help_text=_("The ids of the person's groups (they never change).")
    )
    release_roles = models.BooleanField(
        _("release roles"), default=True, help_text=_("The app's roles the person holds.")
    )
    idp_initiated = models.BooleanField(
        _("IdP-initiated sign-on"),
        default=False,
        help_text=_(
            "Let people start at Identity (an unsolicited response). Off unless the app needs it: such a response "
            "answers no request of the app's, so the app cannot tell it from one forced on someone."
        ),
    )
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    class Meta:
        verbose_name = _("SAML settings")
        verbose_name_plural = _("SAML settings")

    def __str__(self) -> str:
        return self.entity_id


class PairwiseSubject(models.Model):
    """The persistent NameID one person has at one service provider: random, stable, and different at
    every SP, so two SPs cannot link their users, and never the email (which changes)."""

    service_provider = models.ForeignKey(ServiceProvider, on_delete=models.CASCADE, related_name="subjects")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saml_subjects")
    value = models.CharField(max_length=64, default=secrets.token_hex)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service_provider", "user"], name="saml_subject_per_sp"),
            models.UniqueConstraint(fields=["service_provider", "value"], name="saml_subject_value_unique"),
        ]


class SignOn(models.Model):
    """One assertion given to one SP in one session: what Single Logout tells the SP to end (by NameID
    and SessionIndex), and what the security page lists as an app the person uses."""

    service_provider = models.ForeignKey(
        ServiceProvider, on_delete=models.CASCADE, related_name="sign_ons", verbose_name=_("SAML app")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saml_sign_ons", verbose_name=_("person")
    )
    session_ref = models.CharField(max_length=64, db_index=True)  # accounts.signin_state's SigninState.ref
    name_id = models.CharField(max_length=320)
    name_id_format = models.CharField(_("NameID format"), max_length=100)
    session_index = models.CharField(max_length=64, default=secrets.token_hex)
    signed_on_at = models.DateTimeField(_("signed on"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    # Ended here, and the SP (which takes logout requests over SOAP) not yet told: saml.tasks retries,
    # and the sweep hands the rows a broker outage left behind.
    logout_pending = models.BooleanField(_("logout to send"), default=False)

    class Meta:
        verbose_name = _("SAML sign-on")
        verbose_name_plural = _("SAML sign-ons")
        indexes = [models.Index(fields=["user", "ended_at"]), models.Index(fields=["logout_pending"])]
