"""SCIM clients in the admin. A client's token can change every account in its reach, so only
superusers create, change, revoke or re-issue them (accounts.superuser_admin); the token is shown
once, on the page right after it is made (never in a message: those ride in a signed, readable
cookie), and only its hash is kept. Every change lands in the admin's log with the admin."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin, show_once
from accounts.superuser_admin import SuperuserChangesOnly

from .models import ProvisionedGroup, ProvisionedUser, ScimClient


@admin.register(ScimClient)
class ScimClientAdmin(SuperuserChangesOnly, admin.ModelAdmin):
    protected_message = _("Only a superuser can change SCIM clients: a client's token acts on accounts.")
    list_display = ("name", "may_users", "may_groups", "may_write", "any_account", "last_used_at", "revoked_at")
    list_filter = ("may_write", "any_account", ("revoked_at", admin.EmptyFieldListFilter))
    fields = (
        "name",
        "may_users",
        "may_groups",
        "may_write",
        "any_account",
        "token_hint",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = ("token_hint", "created_at", "created_by", "last_used_at", "revoked_at")
    actions = ("revoke", "issue_new_token")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            # Kept on this object only (the admin instance is shared by concurrent requests).
            obj.new_token = obj.issue_token()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        return self._show_tokens(request, [(obj, obj.new_token)])

    @admin.action(description=_("Revoke the token of selected SCIM clients"), permissions=["change"])
    def revoke(self, request, queryset):
        for client in queryset.filter(revoked_at__isnull=True):
            client.revoked_at = timezone.now()
            client.save(update_fields=["revoked_at"])
            self.log_change(request, client, gettext("Token revoked."))
        self.message_user(request, gettext("Revoked."), messages.SUCCESS)

    @admin.action(description=_("Issue a new token (the old one stops working)"), permissions=["change"])
    def issue_new_token(self, request, queryset):
        made = []
        for client in queryset:
            token = client.issue_token()
            client.revoked_at = None
            client.save(update_fields=["token_hash", "token_hint", "revoked_at"])
            self.log_change(request, client, gettext("New token issued."))
            made.append((client, token))
        return self._show_tokens(request, made)

    def _show_tokens(self, request, made):
        return show_once(self, request, "admin/scim/client_token.html", made, _("SCIM client tokens"))


class ProvisionedAdmin(ReadOnlyAdmin):
    """Who provisioned whom, to look at; changes come from the clients, through SCIM."""

    list_filter = ("client",)


@admin.register(ProvisionedUser)
class ProvisionedUserAdmin(ProvisionedAdmin):
    list_display = ("user", "client", "external_id")
    search_fields = ("user__email", "external_id")
    readonly_fields = ("user", "client", "external_id", "attributes")
    list_select_related = ("user", "client")


@admin.register(ProvisionedGroup)
class ProvisionedGroupAdmin(ProvisionedAdmin):
    list_display = ("group", "client")
    search_fields = ("group__display_name",)
    readonly_fields = ("group", "client")
    list_select_related = ("group", "client")
