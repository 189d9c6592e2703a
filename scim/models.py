"""SCIM clients (the provisioning systems an admin lets in) and what each of them provisioned."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from directory.models import Group

TOKEN_PREFIX = "scim_"


def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so one unsalted SHA-256 is enough to make a leaked table useless."""
    return hashlib.sha256(token.encode()).hexdigest()


class ScimClient(models.Model):
    """A provisioning system allowed to call /scim/v2/ with its own bearer token, within its limits.

    Least privilege: a client sees and changes only the resource types it is given, writes only if
    it may, and acts only on the people and groups it provisioned itself unless `any_account` is on;
    staff and superuser accounts it never sees at all (see scim.scope)."""

    name = models.CharField(_("name"), max_length=150, unique=True)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    # The token's first characters, so an admin can tell which token a system holds; never enough to use.
    token_hint = models.CharField(_("token starts with"), max_length=16, editable=False)
    may_users = models.BooleanField(_("may touch users"), default=True)
    may_groups = models.BooleanField(_("may touch groups"), default=True)
    may_write = models.BooleanField(_("may write"), default=True, help_text=_("Off: it may only read."))
    any_account = models.BooleanField(
        _("any non-staff account"),
        default=False,
        help_text=_(
            "On: it may read and change every account that is not staff or superuser, and every group. "
            "Off: only the people and groups it provisioned itself."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ("name",)
        verbose_name = _("SCIM client")
        verbose_name_plural = _("SCIM clients")

    def __str__(self) -> str:
        return self.name

    def issue_token(self) -> str:
        """A new token for this client (the old one stops working); shown once, stored hashed."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.token_hash = token_hash(token)
        self.token_hint = token[: len(TOKEN_PREFIX) + 4]
        return token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ProvisionedUser(models.Model):
    """A person as a SCIM client knows them: who provisioned them, their externalId, and the SCIM
    attributes we keep for the client without acting on them (nickName, phoneNumbers, the enterprise
    extension...). Never a password: that is dropped before anything is stored."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scim", verbose_name=_("person")
    )
    client = models.ForeignKey(
        ScimClient,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("provisioned by"),
    )
    external_id = models.CharField(_("external id"), max_length=200, blank=True, db_index=True)
    attributes = models.JSONField(_("other attributes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("provisioned person")
        verbose_name_plural = _("provisioned people")

    def __str__(self) -> str:
        return f"{self.user} ({self.client or '-'})"


class ProvisionedGroup(models.Model):
    """Which SCIM client provisioned a group (directory.Group keeps its name and externalId)."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="scim", verbose_name=_("group"))
    client = models.ForeignKey(
        ScimClient,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="groups",
        verbose_name=_("provisioned by"),
    )

    class Meta:
        verbose_name = _("provisioned group")
        verbose_name_plural = _("provisioned groups")

    def __str__(self) -> str:
        return f"{self.group} ({self.client or '-'})"
