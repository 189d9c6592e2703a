"""Providers in the admin. Only superusers change them: a provider decides who may sign in as whom
(and may create accounts), so changing one is as powerful as changing a relying app. The client
secret is write-only: typed once, stored encrypted, never shown again; left blank on a change, the
stored one stays."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.superuser_admin import SuperuserChangesOnly

from .models import Provider, UpstreamLink


class ProviderForm(forms.ModelForm):
    issuer = forms.URLField(
        label=_("issuer"), max_length=300, assume_scheme="https", help_text=Provider._meta.get_field("issuer").help_text
    )
    client_secret = forms.CharField(
        label=_("client secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted and never shown again. Leave blank to keep the current one."),
    )

    class Meta:
        model = Provider
        fields = [
            "name",
            "slug",
            "issuer",
            "client_id",
            "client_secret",
            "scopes",
            "enabled",
            "may_create_accounts",
            "allowed_email_domains",
        ]

    def clean_client_secret(self) -> str:
        secret = self.cleaned_data["client_secret"]
        if not secret and not self.instance.client_secret_sealed:
            raise forms.ValidationError(_("Enter the client secret the provider gave you."))
        return secret

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        if self.cleaned_data["client_secret"]:
            provider.client_secret = self.cleaned_data["client_secret"]
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(SuperuserChangesOnly, admin.ModelAdmin):
    form = ProviderForm
    protected_message = _("Only a superuser can change sign-in providers: a provider decides who may sign in as whom.")
    list_display = ("name", "slug", "issuer", "enabled", "may_create_accounts")
    list_filter = ("enabled", "may_create_accounts")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(UpstreamLink)
class UpstreamLinkAdmin(SuperuserChangesOnly, admin.ModelAdmin):
    """Read for everyone with access; links are made by signing in, never typed in."""

    protected_message = _("Links are made by signing in through the provider.")
    list_display = ("user", "provider", "subject", "created_at", "last_used_at")
    list_filter = ("provider",)
    search_fields = ("user__email", "subject")
    readonly_fields = ("user", "provider", "issuer", "subject", "created_at", "last_used_at")

    def has_add_permission(self, request, *args) -> bool:
        return False
