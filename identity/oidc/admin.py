"""Relying apps in the admin. A secret is shown once, on the page right after it is made, and
stored only as a keyed hash; it never passes through messages, logs or the admin history."""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from .models import Client, Consent

GRANTS = [
    (Client.GRANT_AUTHORIZATION_CODE, _("Authorization code (people sign in)")),
    (Client.GRANT_CLIENT_CREDENTIALS, _("Client credentials (a machine)")),
]


class ClientForm(forms.ModelForm):
    authorization_grant_type = forms.ChoiceField(label=_("grant"), choices=GRANTS)
    backchannel_logout_uri = forms.URLField(label=_("back-channel logout URI"), required=False, assume_scheme="https")

    class Meta:
        model = Client
        fields = [
            "name",
            "client_type",
            "authorization_grant_type",
            "redirect_uris",
            "post_logout_redirect_uris",
            "backchannel_logout_uri",
            "allowed_scopes",
            "skip_authorization",
            "is_resource_server",
            "served_scopes",
            "refresh_without_offline_access",
        ]
        labels = {
            "skip_authorization": _("First-party app: skip the consent page"),
            "is_resource_server": _("Resource server: may introspect access tokens"),
        }


class ClientAdmin(admin.ModelAdmin):
    form = ClientForm
    list_display = [
        "name",
        "client_id",
        "client_type",
        "authorization_grant_type",
        "skip_authorization",
        "is_resource_server",
        "created",
    ]
    list_filter = ["client_type", "authorization_grant_type", "skip_authorization", "is_resource_server"]
    search_fields = ["name", "client_id"]
    readonly_fields = ["client_id", "created", "updated"]
    fieldsets = [
        (None, {"fields": ["name", "client_id", "client_type", "authorization_grant_type", "allowed_scopes"]}),
        (_("Addresses"), {"fields": ["redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri"]}),
        (_("Consent and refresh tokens"), {"fields": ["skip_authorization", "refresh_without_offline_access"]}),
        (_("Introspection (RFC 7662)"), {"fields": ["is_resource_server", "served_scopes"]}),
        (_("History"), {"fields": ["created", "updated"]}),
    ]
    actions = ["new_secret"]

    def save_model(self, request, obj, form, change):
        if not change:
            # Kept on this object only (the admin instance is shared by concurrent requests).
            obj.new_secret = secrets.token_urlsafe(48) if obj.client_type == Client.CLIENT_CONFIDENTIAL else None
            obj.client_secret = obj.new_secret or ""
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        return self._show_secret(request, [(obj, obj.new_secret)])

    @admin.action(permissions=["change"], description=_("Make a new secret (the old one stops working)"))
    def new_secret(self, request, queryset):
        made = []
        for client in queryset.filter(client_type=Client.CLIENT_CONFIDENTIAL):
            secret = secrets.token_urlsafe(48)
            client.client_secret = secret
            client.save(update_fields=["client_secret", "updated"])
            self.log_change(request, client, "Made a new client secret.")
            made.append((client, secret))
        return self._show_secret(request, made)

    def _show_secret(self, request, made):
        context = {**self.admin_site.each_context(request), "made": made, "opts": self.model._meta, "title": _("Client credentials")}
        response = TemplateResponse(request, "admin/oidc/client_secret.html", context)
        response["Cache-Control"] = "no-store"
        return response


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["user", "client", "scopes", "granted_at"]
    search_fields = ["user__email", "client__name", "client__client_id"]
    list_select_related = ["user", "client"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
