"""Relying apps and app tokens in the admin. A secret is shown once, on the page right after it is
made, and stored only as a keyed hash; it never passes through messages, logs or the admin history.
Tokens are records to look at and revoke, never credentials to read or edit (TokenRecordAdmin)."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from typing import ClassVar

from django import forms
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from oauth2_provider.models import get_access_token_model

from accounts.admin import show_once, tell_skipped
from accounts.flows.lifecycle import may_manage
from accounts.superuser_admin import SuperuserChangesOnly
from directory.admin import AppAssignmentInline, AppRoleInline, AuditsDirectoryChanges

from .models import Api, ApiScope, Client, Consent
from .revocation import revoke_by_admin, withdraw_consent_by_admin

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
            "granted_scopes",
            "skip_authorization",
            "refresh_without_offline_access",
            "assignment_required",
            "groups_claim",
            "algorithm",
        ]
        labels = {"skip_authorization": _("First-party app: skip the consent page")}


PROTECTED_CLIENTS = _(
    "Only a superuser can change relying apps: their addresses, type and secret decide where sign-in codes "
    "and tokens go."
)


class ClientAdmin(AuditsDirectoryChanges, SuperuserChangesOnly, admin.ModelAdmin):
    """Superusers only (SuperuserChangesOnly): whoever may add a redirect URI to a first-party app
    collects the authorization codes of everyone who signs in to it, superusers included. The app's
    roles and who is assigned to it are inlines (directory.admin), audited on each person concerned."""

    form = ClientForm
    protected_message = PROTECTED_CLIENTS
    list_display = [
        "name",
        "client_id",
        "client_type",
        "authorization_grant_type",
        "skip_authorization",
        "algorithm",
        "created",
    ]
    list_filter = ["client_type", "authorization_grant_type", "skip_authorization", "algorithm"]
    search_fields = ["name", "client_id"]

    def get_queryset(self, request):
        # SAML service providers are clients too (see Client), with an admin of their own (saml.admin).
        return super().get_queryset(request).filter(protocol=Client.Protocol.OIDC)

    readonly_fields = ["client_id", "created", "updated"]
    fieldsets = [
        (None, {"fields": ["name", "client_id", "client_type", "authorization_grant_type", "allowed_scopes"]}),
        (_("Addresses"), {"fields": ["redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri"]}),
        (_("Consent and refresh tokens"), {"fields": ["skip_authorization", "refresh_without_offline_access"]}),
        (_("APIs"), {"fields": ["granted_scopes"]}),
        (_("Authorization (directory)"), {"fields": ["assignment_required", "groups_claim"]}),
        (_("Token signing"), {"fields": ["algorithm"]}),
        (_("History"), {"fields": ["created", "updated"]}),
    ]
    filter_horizontal = ["granted_scopes"]
    inlines = [AppRoleInline, AppAssignmentInline]
    actions = ["new_secret"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # roles and assignments once the app exists

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
        return show_once(self, request, "admin/oidc/client_secret.html", made, _("Client credentials"))


PROTECTED_APIS = _(
    "Only a superuser can change APIs: an API's resource server reads its tokens, and its scopes decide what "
    "apps may be granted."
)


class ApiScopeInline(admin.TabularInline):
    model = ApiScope
    extra = 1
    fields = ["value", "description"]


@admin.register(Api)
class ApiAdmin(SuperuserChangesOnly, admin.ModelAdmin):
    """APIs (resource servers) and their scopes. Superusers only, as relying apps: the resource server an
    API names learns about all its tokens, and a scope added here can be granted. Changes are in the
    admin history (LogEntry) with who made them."""

    protected_message = PROTECTED_APIS
    inlines = [ApiScopeInline]
    list_display = ["name", "identifier", "resource_server", "algorithm", "created"]
    search_fields = ["name", "identifier", "scopes__value"]
    list_select_related = ["resource_server"]
    fields = ["name", "identifier", "description", "resource_server", "algorithm"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "resource_server":
            kwargs["queryset"] = Client.objects.filter(client_type=Client.CLIENT_CONFIDENTIAL).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    """What each person agreed to. Withdrawing one (deleting it) is the person's own "remove this app",
    and only for accounts this admin may manage (may_manage)."""

    list_display = ["user", "client", "scopes", "granted_at"]
    search_fields = ["user__email", "client__name", "client__client_id"]
    list_select_related = ["user", "client"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        """Only of accounts this admin may manage; Django's bulk deletion asks this of every row too."""
        return super().has_delete_permission(request, obj) and (obj is None or may_manage(request.user, obj.user))

    def delete_model(self, request, obj):
        withdraw_consent_by_admin(request, obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for consent in queryset.select_related("user", "client"):
            withdraw_consent_by_admin(request, consent, actor=request.user)


# --- app tokens (django-oauth-toolkit's admins, replaced through OAUTH2_PROVIDER's *_ADMIN_CLASS) ---


def fingerprint(value: str) -> str:
    """Ten hex digits of a value's SHA-256: enough to match a row to a token someone holds, never
    enough to use or guess it."""
    return hashlib.sha256(value.encode()).hexdigest()[:10] if value else ""


class TokenRecordAdmin(admin.ModelAdmin):
    """Who holds a token for which app, since when, until when: read-only, and never its value.

    django-oauth-toolkit's own admins let anyone allowed to change a token set its person, so a
    helpdesk account could point its own token at a superuser and act as them at every app (or set
    its checksum to one of a token it made up). Nothing is editable here; a token goes only by the
    "Revoke" action, which ends its whole family through the revocation flow (the apps told, audited
    with the admin), needs the delete permission, and skips accounts the admin may not manage.
    """

    list_display: tuple[str, ...] = ("fingerprint", "user", "application", "created", "expires")
    list_select_related = ("user", "application")
    list_filter: ClassVar[tuple] = ("application",)
    search_fields = ("user__email", "application__name", "application__client_id")  # never by value
    actions = ["revoke_tokens"]

    def get_fields(self, request, obj=None):
        return self.list_display

    def get_readonly_fields(self, request, obj=None):
        return self.list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a raw delete would leave the rest of the family working

    def has_revoke_permission(self, request) -> bool:
        """Revoking is a deletion, not a look: it needs the delete permission."""
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('delete', self.opts)}")

    @admin.display(description=_("fingerprint"))
    def fingerprint(self, obj) -> str:
        return obj.token_checksum[:10]  # the stored checksum is already the token's SHA-256

    def revocation(self, rows) -> dict:
        """The keyword arguments of revoke_by_admin for these rows of one person."""
        raise NotImplementedError

    @admin.action(permissions=["revoke"], description=_("Revoke: end each token's whole family (the app is told)"))
    def revoke_tokens(self, request, queryset):
        by_person = defaultdict(list)
        for row in queryset.select_related("user"):
            by_person[row.user].append(row)
        allowed = {
            person: rows for person, rows in by_person.items() if person is None or may_manage(request.user, person)
        }
        tell_skipped(self, request, len(by_person) - len(allowed))
        for person, rows in allowed.items():
            revoke_by_admin(request, person, actor=request.user, **self.revocation(rows))
        count = sum(len(rows) for rows in allowed.values())
        self.message_user(request, ngettext("%d token revoked.", "%d tokens revoked.", count) % count)


class AccessTokenAdmin(TokenRecordAdmin):
    list_display = ("fingerprint", "user", "application", "scope", "created", "expires")

    def revocation(self, rows) -> dict:
        return {"access_tokens": [row.pk for row in rows]}


class RefreshTokenAdmin(TokenRecordAdmin):
    list_display = ("fingerprint", "user", "application", "created", "revoked")
    list_filter = ("application", ("revoked", admin.EmptyFieldListFilter))

    def revocation(self, rows) -> dict:
        return {"refresh_tokens": [row.pk for row in rows]}


class IDTokenAdmin(TokenRecordAdmin):
    """The signed ID token itself is not stored; its JWT ID names it and is no credential."""

    list_display = ("jti", "user", "application", "scope", "created", "expires")

    def revocation(self, rows) -> dict:
        ids = [row.pk for row in rows]
        return {"access_tokens": get_access_token_model().objects.filter(id_token__in=ids).values_list("pk", flat=True)}


class AuthorizationCodeAdmin(TokenRecordAdmin):
    """Codes not exchanged yet (an exchanged code is deleted); a revoked one can no longer be."""

    list_display = ("fingerprint", "user", "application", "scope", "created", "expires")

    @admin.display(description=_("fingerprint"))
    def fingerprint(self, obj) -> str:
        return fingerprint(obj.code)

    def revocation(self, rows) -> dict:
        return {"codes": [row.pk for row in rows]}
