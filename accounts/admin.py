from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .flows.lifecycle import deactivate_user, reactivate_user
from .models import OutboxMail, User, normalize_email
from .outbox import queue_mail


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "display_name")

    def clean_email(self):
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email__lower=email.lower()).exists():
            raise forms.ValidationError(_("An account with this email address already exists."))
        return email


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
    ordering = ("email",)
    search_fields = ("email", "display_name")
    list_display = ("email", "display_name", "is_active", "email_verified", "is_staff", "last_login", "date_joined")
    list_filter = ("is_active", "email_verified", "is_staff", "is_superuser")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("display_name", "email_verified")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "display_name", "usable_password", "password1", "password2")}),
    )
    actions = ("deactivate", "reactivate", "send_password_reset")

    @admin.action(description=_("Deactivate and sign out selected users"), permissions=["change"])
    def deactivate(self, request, queryset):
        users = list(queryset.filter(is_active=True))
        for user in users:
            deactivate_user(user)
        self._report(request, ngettext("%d user deactivated.", "%d users deactivated.", len(users)), len(users))

    @admin.action(description=_("Reactivate selected users"), permissions=["change"])
    def reactivate(self, request, queryset):
        users = list(queryset.filter(is_active=False))
        for user in users:
            reactivate_user(user)
        self._report(request, ngettext("%d user reactivated.", "%d users reactivated.", len(users)), len(users))

    def _report(self, request, template: str, count: int) -> None:
        self.message_user(request, template % count, messages.SUCCESS)

    @admin.action(description=_("Send a password-reset mail"), permissions=["change"])
    def send_password_reset(self, request, queryset):
        users = list(queryset.filter(is_active=True))
        with transaction.atomic():
            for user in users:
                queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        self._report(
            request, ngettext("Reset mail queued for %d user.", "Reset mail queued for %d users.", len(users)), len(users)
        )

    def save_model(self, request, obj, form, change):
        # Deactivating from the change form must end sessions just like the list action does.
        was_active = change and User.objects.filter(pk=obj.pk, is_active=True).exists()
        super().save_model(request, obj, form, change)
        if was_active and not obj.is_active:
            deactivate_user(obj)


@admin.register(OutboxMail)
class OutboxMailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "to", "state", "attempts", "sent_at")
    list_filter = ("kind", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("to",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in OutboxMail._meta.fields] + ["state"]

    @admin.display(description=_("state"))
    def state(self, obj):
        return obj.state

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
