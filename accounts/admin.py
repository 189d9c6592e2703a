from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from identity.views import wait_phrase

from .flows.lifecycle import (
    account_edited_by_admin,
    clear_signin_throttling,
    deactivate_user,
    delete_user,
    end_sessions_for,
    manageable,
    may_manage,
    reactivate_user,
    send_password_reset,
    signin_throttle_state,
)
from .flows.password import change_password
from .forms import CONFIRM_PASSWORD, NormalizedPasswords
from .models import CredentialEvent, OutboxMail, SecurityEvent, User, normalize_email
from .outbox import enqueue
from .superuser_admin import refuse  # also registers the superuser-only group admin

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PROTECTED_ACCOUNT = _("Only a superuser can change a staff or superuser account.")


def show_once(model_admin: admin.ModelAdmin, request, template: str, made: list, title) -> TemplateResponse:
    """The page right after credentials were made (a client secret, a SCIM token), the one time they are
    shown: never in a message (messages ride in a signed but readable cookie), never kept by a cache."""
    context = {
        **model_admin.admin_site.each_context(request),
        "made": made,
        "opts": model_admin.model._meta,
        "title": title,
    }
    response = TemplateResponse(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


def tell_skipped(model_admin: admin.ModelAdmin, request, skipped: int) -> None:
    """Say that an action left `skipped` accounts alone because this admin may not manage them."""
    if skipped:
        model_admin.message_user(
            request,
            ngettext(
                "%d staff or superuser account was skipped: only a superuser can act on it.",
                "%d staff or superuser accounts were skipped: only a superuser can act on them.",
                skipped,
            )
            % skipped,
            messages.WARNING,
        )


class PlainPasswordLabels:
    """Form mixin: Django's "Password confirmation" said in plain words."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "password2" in self.fields:
            self.fields["password2"].label = CONFIRM_PASSWORD


class UserCreationAdminForm(PlainPasswordLabels, NormalizedPasswords, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "display_name")

    def clean_email(self):
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email__lower=email.lower()).exists():
            raise forms.ValidationError(_("An account with this email address already exists."))
        return email


class PasswordChangeAdminForm(PlainPasswordLabels, NormalizedPasswords, AdminPasswordChangeForm):
    pass


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self):
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email__lower=email.lower()).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("An account with this email address already exists."))
        return email


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    change_password_form = PasswordChangeAdminForm
    # Only superusers may grant privileges or set someone's password: a staff member allowed to edit
    # users must not be able to make themselves (or anyone) a superuser or take over an account.
    PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if not request.user.is_superuser:
            fields = (*fields, *self.PRIVILEGE_FIELDS)
        return fields

    def has_change_permission(self, request, obj=None):
        """A staff or superuser account is read-only to everyone but superusers (see may_manage)."""
        return super().has_change_permission(request, obj) and (obj is None or may_manage(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or may_manage(request.user, obj))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = self.get_object(request, unquote(object_id))
        if user is not None and not may_manage(request.user, user):
            if request.method == "POST":
                return refuse(self, request, PROTECTED_ACCOUNT)
            self.message_user(request, PROTECTED_ACCOUNT, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        user = self.get_object(request, unquote(object_id))
        if user is not None and not may_manage(request.user, user):
            return refuse(self, request, PROTECTED_ACCOUNT)
        return super().delete_view(request, object_id, extra_context)

    def user_change_password(self, request, id, form_url=""):
        """Setting a password goes through the person's own password flow: every session ends, every
        app's tokens are revoked, the owner is mailed; audited with the admin. Superusers only."""
        if not request.user.is_superuser:
            return refuse(self, request, _("Only a superuser can set or turn off a password in the admin."))
        user = self.get_object(request, unquote(id))
        if user is not None and request.method == "POST":
            form = self.change_password_form(user, request.POST)
            usable = form.is_valid() and form.cleaned_data["set_usable_password"]
            if form.is_valid() and (usable or "unset-password" in request.POST):
                change_password(request, user, form.cleaned_data["password1"] if usable else None, actor=request.user)
                self.log_change(request, user, self.construct_change_message(request, form, None))
                if usable:
                    self.message_user(request, gettext("Password changed successfully."), messages.SUCCESS)
                else:
                    self.message_user(request, gettext("Password-based authentication was disabled."), messages.SUCCESS)
                return redirect("admin:accounts_user_change", user.pk)
        return super().user_change_password(request, id, form_url)

    ordering = ("email",)
    search_fields = ("email", "display_name")
    list_display = ("email", "display_name", "is_active", "email_verified", "is_staff", "last_login", "date_joined")
    list_filter = ("is_active", "email_verified", "is_staff", "is_superuser", "mfa_required")
    # Typed loosely: mfa.admin.UserAdmin extends them.
    readonly_fields: ClassVar[tuple[str, ...]] = ("last_login", "date_joined", "signin_throttle", "recent_events")
    fieldsets: ClassVar[tuple[tuple[StrOrPromise | None, Any], ...]] = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("display_name", "email_verified")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Security"), {"fields": ("mfa_required", "signin_throttle", "recent_events")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "display_name", "usable_password", "password1", "password2")},
        ),
    )
    actions: tuple[str, ...] = (
        "deactivate",
        "reactivate",
        "send_password_reset",
        "end_sessions",
        "clear_throttling",
        "delete_selected",
    )

    @admin.display(description=_("Sign-in throttling"))
    def signin_throttle(self, obj):
        state = signin_throttle_state(obj)
        if not state["blocked_for"] and not state["failures"]:
            return _("None")
        failures = ngettext(
            "%(n)d failed password attempt in a row.", "%(n)d failed password attempts in a row.", state["failures"]
        ) % {"n": state["failures"]}
        if not state["blocked_for"]:
            return failures
        return f"{failures} " + _("Next attempt allowed in %(wait)s.") % {"wait": wait_phrase(state["blocked_for"])}

    @admin.display(description=_("Recent security events"))
    def recent_events(self, obj):
        events = SecurityEvent.objects.filter(user=obj)[:20]
        if not events:
            return _("None")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (e.at.strftime("%Y-%m-%d %H:%M:%S"), e.get_kind_display(), e.details or e.method_display, e.ip or "")
                for e in events
            ),
        )
        return format_html(
            '<table>{}</table><p><a href="{}?user__id__exact={}">{}</a></p>',
            rows,
            reverse("admin:accounts_securityevent_changelist"),
            obj.pk,
            _("All events of this user"),
        )

    @admin.action(description=_("Deactivate and sign out selected users"), permissions=["change"])
    def deactivate(self, request, queryset):
        users = list(self._manageable(request, queryset).filter(is_active=True))
        for user in users:
            deactivate_user(user, request, actor=request.user)
        self._report(request, ngettext("%d user deactivated.", "%d users deactivated.", len(users)), len(users))

    @admin.action(description=_("Reactivate selected users"), permissions=["change"])
    def reactivate(self, request, queryset):
        users = list(self._manageable(request, queryset).filter(is_active=False))
        for user in users:
            reactivate_user(user, request, actor=request.user)
        self._report(request, ngettext("%d user reactivated.", "%d users reactivated.", len(users)), len(users))

    @admin.action(description=_("Send a password-reset mail"), permissions=["change"])
    def send_password_reset(self, request, queryset):
        users = list(self._manageable(request, queryset).filter(is_active=True))
        for user in users:
            send_password_reset(user, request, actor=request.user)
        self._report(
            request,
            ngettext("Reset mail queued for %d user.", "Reset mail queued for %d users.", len(users)),
            len(users),
        )

    @admin.action(description=_("End all sessions of selected users"), permissions=["change"])
    def end_sessions(self, request, queryset):
        users = list(self._manageable(request, queryset))
        for user in users:
            end_sessions_for(user, request, actor=request.user)
        self._report(
            request, ngettext("Sessions ended for %d user.", "Sessions ended for %d users.", len(users)), len(users)
        )

    @admin.action(description=_("Clear sign-in throttling"), permissions=["change"])
    def clear_throttling(self, request, queryset):
        users = list(self._manageable(request, queryset))
        for user in users:
            clear_signin_throttling(user, request, actor=request.user)
        self._report(
            request,
            ngettext("Throttling cleared for %d user.", "Throttling cleared for %d users.", len(users)),
            len(users),
        )

    @admin.action(description=_("Delete selected %(verbose_name_plural)s"), permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Django's deletion (with its confirmation page), on the accounts this admin may manage only."""
        allowed = self._manageable(request, queryset)
        return delete_selected(self, request, allowed) if allowed.exists() else None

    def _manageable(self, request, queryset):
        """The selected accounts this admin may act on; the others are left alone, and the admin told."""
        allowed = manageable(request.user, queryset)
        tell_skipped(self, request, queryset.count() - allowed.count())
        return allowed

    def _report(self, request, template: str, count: int) -> None:
        self.message_user(request, template % count, messages.SUCCESS)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def delete_model(self, request, obj):
        """Deleting goes through the account-deletion flow: access ends, the trail stays, audited."""
        delete_user(obj, request, actor=request.user)

    def delete_queryset(self, request, queryset):
        for user in manageable(request.user, queryset):
            delete_user(user, request, actor=request.user)

    def save_model(self, request, obj, form, change):
        before = User.objects.get(pk=obj.pk) if change else None
        super().save_model(request, obj, form, change)
        if before is not None:
            account_edited_by_admin(request, before, obj, actor=request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that nobody edits by hand: the outbox, the audit trail and the credential events."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxMail)
class OutboxMailAdmin(ReadOnlyAdmin):
    actions = ("retry",)

    @admin.action(description=_("Send again (after the mail server is back)"), permissions=["resend"])
    def retry(self, request, queryset):
        """Give mail that gave up (or is waiting) a fresh set of attempts and enqueue it now."""
        ids = list(queryset.filter(sent_at__isnull=True).values_list("pk", flat=True))
        # Fresh links too: the kept ones may have expired while the mail waited.
        OutboxMail.objects.filter(pk__in=ids).update(attempts=0, last_error="", links={})
        for mail_id in ids:
            enqueue(mail_id)
        self.message_user(request, ngettext("%d mail enqueued.", "%d mails enqueued.", len(ids)) % len(ids))

    def has_resend_permission(self, request) -> bool:
        """Sending mail again is a change (a reset link goes out once more), not a look."""
        return request.user.has_perm("accounts.change_outboxmail")

    list_display = ("created_at", "kind", "to", "state", "attempts", "sent_at")
    list_filter = ("kind", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("to",)
    date_hierarchy = "created_at"
    # The kept links carry live tokens (a reset link would let staff take over the account): never shown.
    exclude = ("links", "claim")
    readonly_fields = [f.name for f in OutboxMail._meta.fields if f.name not in ("links", "claim")] + ["state"]

    def lookup_allowed(self, lookup, value, request=None):
        """Nor filtered on: a changelist accepts any lookup on a local field from its query string, and
        ?links__reset_url__startswith=... answering one row or none reads a link a letter at a time."""
        if lookup.split("__", 1)[0] in self.exclude:
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("state"))
    def state(self, obj):
        return obj.state


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "user", "method", "details", "ip", "actor", "provisioner")
    list_filter = ("kind", "method", "at")
    search_fields = ("user__email", "former_account", "actor__email", "former_actor", "ip", "provisioner")
    date_hierarchy = "at"
    list_select_related = ("user", "actor")
    readonly_fields = [f.name for f in SecurityEvent._meta.fields]

    @admin.display(description=_("reason"), ordering="reason")
    def details(self, obj):
        return obj.details


@admin.register(CredentialEvent)
class CredentialEventAdmin(ReadOnlyAdmin):
    """The credential changes a "This wasn't me" link can undo: who, what, when, whether it was undone,
    and the session that made it. Never the link (it undoes the event with no sign-in), and no edits:
    marking one used would silently void the owner's link."""

    list_display = ("created_at", "kind", "user", "used_at", "session_ref")
    fields = list_display
    readonly_fields = list_display
    list_filter = ("kind", ("used_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "session_ref")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
