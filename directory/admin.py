"""Groups, their members and assignments, and assignments to apps, in the admin.

Least privilege as for accounts (directory.privilege): a helpdesk admin never puts a staff or superuser
account into a group, takes one out, assigns one (or a group holding one) to an app, nor changes or
deletes a group holding one. Every change that concerns a person is in their audit trail with the
acting admin (directory.audit); Django's admin history (LogEntry) keeps the objects' side. App roles
and the assignments seen from an app are inlines of the relying app's admin (oidc/admin.py), which
only superusers change.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.superuser_admin import refuse

from . import audit, privilege
from .models import AppRole, Assignment, Group, Membership

PROTECTED_GROUP = _("Only a superuser can change or delete a group that has staff or superuser members.")
PROTECTED_MEMBER = _("Only a superuser can add a staff or superuser account to a group or remove it from one.")
PROTECTED_ASSIGNMENT = _(
    "Only a superuser can assign a staff or superuser account, or a group that has one, to an app (or unassign it)."
)


def _stored(form):
    """The row as it is in the database (the form's instance already carries the posted values)."""
    pk = form.instance.pk
    return type(form.instance).objects.filter(pk=pk).first() if pk else None


class GuardedFormSet(BaseInlineFormSet):
    """An inline formset refusing rows this admin may not add, change or delete (directory.privilege)."""

    actor = None  # the admin, set per request by DirectoryInline.get_formset

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            deleted = self.can_delete and self._should_delete_form(form)  # type: ignore[attr-defined]
            if not hasattr(form, "cleaned_data") or not (form.has_changed() or deleted):
                continue
            if form.errors and not deleted:
                continue  # its own errors already keep the formset from saving (and its row may name no one)
            stored = _stored(form)
            rows = [stored] if deleted else [stored, form.instance]
            for row in filter(None, rows):
                refusal = self.refusal(row)
                if refusal:
                    raise ValidationError(refusal)

    def refusal(self, row):
        if isinstance(row, Membership) and not privilege.may_change_membership(self.actor, row.user):
            return PROTECTED_MEMBER
        if isinstance(row, Assignment) and not privilege.may_change_existing_assignment(self.actor, row):
            return PROTECTED_ASSIGNMENT
        return None


class DirectoryInline(admin.TabularInline):
    formset = GuardedFormSet
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.actor = request.user  # a class made for this request (inlineformset_factory)
        return formset


class MembershipInline(DirectoryInline):
    model = Membership
    fields = ["user", "added_at"]
    readonly_fields = ["added_at"]
    autocomplete_fields = ["user"]


class GroupAssignmentInline(DirectoryInline):
    """The group's assignments: to which apps its members are assigned, with which role."""

    model = Assignment
    fk_name = "group"
    fields = ["app", "role"]
    verbose_name = _("assignment to an app")
    verbose_name_plural = _("assignments to apps")


class AppRoleInline(admin.TabularInline):
    model = AppRole
    fields = ["value", "display_name", "description"]
    extra = 0
    # One line per role: a full-width text area pushed the row (and its Delete box) off the page.
    formfield_overrides = {models.TextField: {"widget": forms.TextInput(attrs={"size": 40})}}


class AppAssignmentInline(DirectoryInline):
    """Who is assigned to the app: people and groups, with a role or default access (no role)."""

    model = Assignment
    fk_name = "app"
    fields = ["role", "user", "group"]
    autocomplete_fields = ["user", "group"]


class AuditsDirectoryChanges:
    """A ModelAdmin mixin: inline changes to memberships, assignments and roles go to the audit trail
    of each person concerned, with the acting admin. Removals are written before the rows go (a
    deleted role's assignments go with it by cascade), additions after they are saved."""

    def save_formset(self, request, form, formset, change):
        if formset.model not in (Membership, Assignment, AppRole):
            return super().save_formset(request, form, formset, change)  # type: ignore[misc]
        deleted = [_stored(f) for f in formset.deleted_forms]
        changed = [(_stored(f), f) for f in formset.initial_forms if f not in formset.deleted_forms and f.has_changed()]
        for row in filter(None, [*deleted, *(stored for stored, _form in changed)]):
            _audit(request, row, added=False)
        formset.save()
        for row in [*formset.new_objects, *(f.instance for _stored_row, f in changed)]:
            _audit(request, row, added=True)
        return None


def _audit(request, row, *, added: bool) -> None:
    if isinstance(row, Membership):
        audit.membership_changed(request, row, joined=added, actor=request.user)
    elif isinstance(row, Assignment):
        audit.assignment_changed(request, row, given=added, actor=request.user)
    elif isinstance(row, AppRole):
        audit.role_changed(request, row, given=added, actor=request.user)


class GuardedDeletes:
    """Bulk deletion (with Django's confirmation page) of the rows this admin may delete only."""

    def may_change(self, request, obj) -> bool:
        raise NotImplementedError

    @admin.action(description=_("Delete selected %(verbose_name_plural)s"), permissions=["delete"])
    def delete_selected(self, request, queryset):
        allowed = [obj.pk for obj in queryset if self.may_change(request, obj)]
        skipped = queryset.count() - len(allowed)
        if skipped:
            self.message_user(  # type: ignore[attr-defined]
                request,
                ngettext(
                    "%d was skipped: only a superuser can act on staff or superuser accounts.",
                    "%d were skipped: only a superuser can act on staff or superuser accounts.",
                    skipped,
                )
                % skipped,
                messages.WARNING,
            )
        return delete_selected(self, request, queryset.filter(pk__in=allowed)) if allowed else None


@admin.register(Group)
class GroupAdmin(GuardedDeletes, AuditsDirectoryChanges, admin.ModelAdmin):
    list_display = ["display_name", "id", "members", "external_id", "updated_at"]
    search_fields = ["display_name", "external_id"]
    readonly_fields = ["id", "created_at", "updated_at"]
    fields = ["id", "display_name", "description", "external_id", "created_at", "updated_at"]
    inlines = [MembershipInline, GroupAssignmentInline]
    actions = ["delete_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description=_("members"), ordering="member_count")
    def members(self, group) -> int:
        return group.member_count

    def may_change(self, request, obj) -> bool:
        return privilege.may_change_group(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.may_change(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.may_change(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        group = self.get_object(request, unquote(object_id))
        if group is not None and not self.may_change(request, group):
            if request.method == "POST":
                return refuse(self, request, PROTECTED_GROUP)
            self.message_user(request, PROTECTED_GROUP, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        group = self.get_object(request, unquote(object_id))
        if group is not None and not self.may_change(request, group):
            return refuse(self, request, PROTECTED_GROUP)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        audit.group_deleted(request, obj, actor=request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for group in queryset:
            audit.group_deleted(request, group, actor=request.user)
        super().delete_queryset(request, queryset)


class AssignmentForm(forms.ModelForm):
    actor = None  # the admin, set per request by AssignmentAdmin.get_form

    class Meta:
        model = Assignment
        fields = ["app", "role", "user", "group"]

    def clean(self):
        cleaned = super().clean()
        group = cleaned.get("group")
        if not privilege.may_change_assignment(self.actor, cleaned.get("user"), group.pk if group else None):
            raise ValidationError(PROTECTED_ASSIGNMENT)
        return cleaned


@admin.register(Assignment)
class AssignmentAdmin(GuardedDeletes, admin.ModelAdmin):
    form = AssignmentForm
    list_display = ["app", "role", "user", "group", "created_at"]
    list_filter = ["app"]
    list_select_related = ["app", "role", "user", "group"]
    search_fields = ["user__email", "group__display_name", "role__value", "app__name"]
    autocomplete_fields = ["user", "group"]
    actions = ["delete_selected"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.actor = request.user  # a class made for this request (modelform_factory)
        return form

    def may_change(self, request, obj) -> bool:
        return obj is None or privilege.may_change_existing_assignment(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.may_change(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.may_change(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        assignment = self.get_object(request, unquote(object_id))
        if assignment is not None and not self.may_change(request, assignment):
            if request.method == "POST":
                return refuse(self, request, PROTECTED_ASSIGNMENT)
            self.message_user(request, PROTECTED_ASSIGNMENT, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        assignment = self.get_object(request, unquote(object_id))
        if assignment is not None and not self.may_change(request, assignment):
            return refuse(self, request, PROTECTED_ASSIGNMENT)
        return super().delete_view(request, object_id, extra_context)

    def save_model(self, request, obj, form, change):
        if change and not form.has_changed():
            return super().save_model(request, obj, form, change)
        stored = Assignment.objects.filter(pk=obj.pk).first() if change else None
        if stored is not None:
            audit.assignment_changed(request, stored, given=False, actor=request.user)
        super().save_model(request, obj, form, change)
        audit.assignment_changed(request, obj, given=True, actor=request.user)
        return None

    def delete_model(self, request, obj):
        audit.assignment_changed(request, obj, given=False, actor=request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for assignment in queryset.select_related("app", "role", "user"):
            audit.assignment_changed(request, assignment, given=False, actor=request.user)
        super().delete_queryset(request, queryset)
