"""Second factors in the admin: only on the person's page, where removing one goes through the person's
own removal flow, and the "Reset two-step verification" action. mfa extends accounts' user admin with
them (accounts knows no factor).

django-otp's own TOTP device admin is taken back: it shows every device's secret (and a QR code of it)
to anyone allowed to view devices, and adds, edits or deletes devices with no mail to the owner, no
audit and no last-factor rule. It registers itself when its module is imported, so it is imported
here, before the admin's autodiscovery reaches it, and unregistered.
"""

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp import admin as otp_totp_admin  # noqa: F401  (registers its admin)
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.admin import UserAdmin as AccountsUserAdmin
from accounts.flows.lifecycle import may_manage
from accounts.models import User
from accounts.stages import must_have_mfa

from .flows import LastFactorRequired, remove_second_factor, reset_mfa
from .models import Passkey
from .policy import passkeys, recovery_codes_left, second_factor_count, totp_devices

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)

LAST_FACTOR = _(
    "This person must use two-step verification, so their last second factor cannot be removed. "
    "Use “Reset two-step verification” instead, or let them add another factor first."
)


class FactorRemovalFormSet(BaseInlineFormSet):
    """Refuses, with a message on the page, to remove the last factor of someone who must use MFA.
    The removal flow enforces the same rule under a lock; this only says so before saving."""

    def clean(self):
        super().clean()
        removing = sum(1 for form in self.forms if form.instance.pk and self._should_delete_form(form))
        if removing and must_have_mfa(self.instance) and removing >= second_factor_count(self.instance):
            raise forms.ValidationError(LAST_FACTOR)


class FactorInline(admin.TabularInline):
    """A user's second factors of one kind, shown read-only and never with a secret. An admin who may
    manage the person can remove one, through the person's own removal flow (UserAdmin.save_formset)."""

    formset = FactorRemovalFormSet
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return obj is None or may_manage(request.user, obj)


class PasskeyInline(FactorInline):
    model = Passkey
    fields = ("name", "created_at", "last_used_at", "synced", "sign_count")
    readonly_fields = fields
    verbose_name_plural = _("passkeys")

    @admin.display(boolean=True, description=_("synced"))
    def synced(self, obj):
        return obj.synced


class TOTPDeviceInline(FactorInline):
    """Replaces django-otp's device admin (see mfa/admin.py), which shows the secret."""

    model = TOTPDevice
    fields = ("name", "created_at", "last_used_at")
    readonly_fields = fields
    verbose_name_plural = _("authenticator apps")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(confirmed=True)


# What an admin's removal of each kind of factor is called in the owner's mail, and the person's own
# factors of that kind (the removal flow only ever removes one of these).
FACTOR_REMOVAL = {Passkey: ("admin_passkey_removed", passkeys), TOTPDevice: ("admin_totp_removed", totp_devices)}


def _with_mfa_status(fields: tuple) -> tuple:
    """The two-step status goes right after the admin's "must use two-step verification" flag."""
    if "mfa_required" not in fields:
        return fields
    at = fields.index("mfa_required") + 1
    return (*fields[:at], "mfa_status", *fields[at:])


class UserAdmin(AccountsUserAdmin):
    """accounts' user admin, with the person's second factors, their status and the reset action."""

    inlines = [PasskeyInline, TOTPDeviceInline]
    readonly_fields = (*AccountsUserAdmin.readonly_fields, "mfa_status")
    fieldsets = tuple(
        (name, {**options, "fields": _with_mfa_status(options["fields"])})
        for name, options in AccountsUserAdmin.fieldsets
    )
    actions = (
        *(action for action in AccountsUserAdmin.actions if action != "delete_selected"),
        "reset_mfa",
        "delete_selected",
    )

    @admin.display(description=_("Two-step verification"))
    def mfa_status(self, obj):
        apps = [device.name for device in totp_devices(obj)]
        keys = [passkey.name for passkey in passkeys(obj)]
        if not apps and not keys:
            return _("Not set up") + (" · " + _("required") if must_have_mfa(obj) else "")
        parts = [_("Authenticator apps: %(names)s") % {"names": ", ".join(apps)}] if apps else []
        parts += [_("Passkeys: %(names)s") % {"names": ", ".join(keys)}] if keys else []
        parts.append(_("recovery codes left: %(n)d") % {"n": recovery_codes_left(obj)})
        return " · ".join(str(part) for part in parts)

    @admin.action(description=_("Reset two-step verification"), permissions=["change"])
    def reset_mfa(self, request, queryset):
        users = list(self._manageable(request, queryset))
        for user in users:
            reset_mfa(user, request, actor=request.user)
        self._report(
            request,
            ngettext(
                "Two-step verification reset for %d user.", "Two-step verification reset for %d users.", len(users)
            ),
            len(users),
        )

    def save_formset(self, request, form, formset, change):
        """A factor ticked for removal goes through the person's own removal flow (the last-factor
        rule, recovery codes, the owner's mail, the audit), with the admin as the actor."""
        if formset.model not in FACTOR_REMOVAL:
            return super().save_formset(request, form, formset, change)
        mail_change, own = FACTOR_REMOVAL[formset.model]
        formset.save(commit=False)  # collects the ticked rows without deleting them
        user = formset.instance
        for factor in formset.deleted_objects:
            try:
                remove_second_factor(request, own(user), factor.pk, mail_change, user=user, actor=request.user)
            except LastFactorRequired:
                self.message_user(request, LAST_FACTOR, messages.ERROR)


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
