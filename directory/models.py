"""Groups, app roles and assignments, on the model of Microsoft Entra ID.

A relying app defines its roles (`AppRole`); an admin (or a SCIM client, for groups) assigns people
or groups to the app, with one of its roles or with none (Entra's "default access"), as `Assignment`
rows. A person holds an app's role directly or through a group they are a member of. Groups are our
own model, not Django's `auth.Group`: those carry admin permissions, and a SCIM client that can add
members to groups must never be able to grant anyone a right in the admin.

Ids are UUIDs and never change, so a `groups` claim stays true when a group is renamed.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

ROLE_VALUE = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9._:-]*\Z",  # \Z: `$` would let a final newline through
    _("Letters, digits and . _ : - only, no spaces (a role's value is what tokens carry)."),
)


class Group(models.Model):
    """A group of people, managed in the admin or provisioned by a SCIM client."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    # The id the provisioning system knows the group by (SCIM externalId).
    external_id = models.CharField(_("external id"), max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    class Meta:
        ordering = ("display_name",)
        verbose_name = _("group")
        verbose_name_plural = _("groups")

    def __str__(self) -> str:
        return self.display_name


class Membership(models.Model):
    """A person in a group. A model of its own (no ManyToManyField), so every removal, also by cascade,
    passes the delete signals that revoke what the membership gave (see directory.changes)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("group"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_memberships", verbose_name=_("person")
    )
    added_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="directory_membership_unique")]
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self) -> str:
        return _("%(person)s in %(group)s") % {"person": self.user, "group": self.group}


class AppRole(models.Model):
    """A role a relying app defines: its tokens carry `value` in `roles` for the people who hold it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="app_roles",
        verbose_name=_("app"),
    )
    value = models.CharField(_("value"), max_length=120, validators=[ROLE_VALUE])
    display_name = models.CharField(_("display name"), max_length=120)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ("value",)
        constraints = [models.UniqueConstraint(fields=["app", "value"], name="directory_role_unique")]
        verbose_name = _("app role")
        verbose_name_plural = _("app roles")

    def __str__(self) -> str:
        return f"{self.display_name} ({self.value})"


class Assignment(models.Model):
    """A person or a group assigned to an app, with one of its roles, or with none (default access:
    the app lets them in, with no role). An app that requires assignment admits only those assigned."""

    app = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="assignments",
        verbose_name=_("app"),
    )
    role = models.ForeignKey(
        AppRole, on_delete=models.CASCADE, null=True, blank=True, related_name="assignments", verbose_name=_("role")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="app_assignments",
        verbose_name=_("person"),
    )
    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, null=True, blank=True, related_name="assignments", verbose_name=_("group")
    )
    created_at = models.DateTimeField(_("assigned"), default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False),
                name="directory_assignment_one_principal",
            ),
            # One row per (app, role, principal); NULL roles counted as equal (default access once).
            models.UniqueConstraint(
                fields=["app", "role", "user"], condition=Q(role__isnull=False), name="directory_assign_user_role"
            ),
            models.UniqueConstraint(
                fields=["app", "role", "group"], condition=Q(role__isnull=False), name="directory_assign_group_role"
            ),
            models.UniqueConstraint(
                fields=["app", "user"], condition=Q(role__isnull=True), name="directory_assign_user_default"
            ),
            models.UniqueConstraint(
                fields=["app", "group"], condition=Q(role__isnull=True), name="directory_assign_group_default"
            ),
        ]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")

    def __str__(self) -> str:
        principal = self.user if self.user_id else self.group
        return f"{principal} → {self.app} ({self.role.value if self.role else _('default access')})"

    def clean(self) -> None:
        if (self.user_id is None) == (self.group_id is None):
            raise ValidationError(_("Assign either a person or a group."))
        if self.role is not None and self.app_id is not None and self.role.app_id != self.app_id:
            raise ValidationError({"role": _("This role belongs to another app.")})
