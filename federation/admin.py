"""Providers in the admin. Only superusers change them: a provider decides who may sign in as whom
(and may create accounts), so changing one is as powerful as changing a relying app. The client
secret is write-only: typed once, stored encrypted, never shown again; left blank on a change, the
stored one stays.

Adding one starts with its kind (presets.py): the form then has that kind's defaults (name, issuer,
scopes) and only the settings that apply to it. The kind is fixed once the provider exists: its links
were made under its rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.template.response import TemplateResponse
from django.utils.html import escape
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts.superuser_admin import SuperuserChangesOnly

from .models import Provider, UpstreamLink
from .presets import PRESETS, preset_for

COMMON_FIELDS = [
    "kind",
    "name",
    "slug",
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "enabled",
    "may_create_accounts",
    "allowed_email_domains",
    "bound_domains",
]


class ProviderForm(forms.ModelForm):
    kind_chosen = "oidc"  # set per request by ProviderAdmin.get_form

    issuer = forms.URLField(
        label=_("issuer"), max_length=300, assume_scheme="https", help_text=Provider._meta.get_field("issuer").help_text
    )
    client_secret = forms.CharField(
        label=capfirst(_("client secret")),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted and never shown again. Leave blank to keep the current one."),
    )

    class Meta:
        model = Provider
        fields = [*COMMON_FIELDS, "allowed_tenants", "trust_upstream_mfa"]
        widgets = {"kind": forms.HiddenInput}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        preset = preset_for(self.instance.kind if self.instance.pk else self.kind_chosen)
        if "issuer" in self.fields:
            self.fields["issuer"].label = capfirst(preset.issuer_label)
            self.fields["issuer"].help_text = preset.issuer_help
        if "kind" in self.fields:
            self.fields["kind"].required = False
        for field in self.fields.values():
            # The admin shows help as HTML; "<slug>" and "<tenant ID>" are words here, not tags.
            field.help_text = escape(field.help_text)

    def clean_kind(self) -> str:
        # Fixed by the choice before the form (or, once saved, by the provider): not what the page posts.
        return self.instance.kind if self.instance.pk else self.kind_chosen

    def clean_client_secret(self) -> str:
        secret = self.cleaned_data["client_secret"]
        if not secret and not self.instance.client_secret_sealed:
            raise forms.ValidationError(_("Enter the client secret the provider gave you."))
        return secret

    def _update_errors(self, errors: ValidationError) -> None:
        # The kind's rules (Provider.clean) may name a setting this kind's form does not show: say it
        # above the form rather than fail on a field that is not there.
        if hasattr(errors, "error_dict"):
            shown: dict[str, list] = {}
            for field, messages in errors.error_dict.items():
                shown.setdefault(field if field in self.fields else NON_FIELD_ERRORS, []).extend(messages)
            errors = ValidationError(shown)
        super()._update_errors(errors)  # type: ignore[misc]  # ModelForm's own (django-stubs lacks it)

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
    list_display = ("name", "kind", "slug", "issuer", "enabled", "may_create_accounts")
    list_filter = ("kind", "enabled", "may_create_accounts")
    prepopulated_fields = {"slug": ("name",)}

    class Media:
        css = {"all": ["federation/admin.css"]}

    def add_view(self, request, form_url="", extra_context=None):
        """The kind first (a page of choices), then its form."""
        if request.method != "POST" and request.GET.get("kind") not in PRESETS and self.has_add_permission(request):
            return self._choose_kind(request)
        kind = Provider.Kind(self._kind(request, None)).label
        title = _("Add sign-in provider: %(kind)s") % {"kind": kind}
        return super().add_view(request, form_url, {**(extra_context or {}), "title": title})

    def _choose_kind(self, request) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add sign-in provider"),
            "opts": self.opts,
            "kinds": [(preset, Provider.Kind(preset.kind).label) for preset in PRESETS.values()],
        }
        return TemplateResponse(request, "admin/federation/provider/choose_kind.html", context)

    @staticmethod
    def _kind(request, obj: Provider | None) -> str:
        if obj is not None:
            return obj.kind
        kind = request.GET.get("kind") or request.POST.get("kind") or "oidc"
        return kind if kind in PRESETS else "oidc"

    def get_fields(self, request, obj=None):
        """The common settings and the kind's own: allowed tenants beside the authority, trusting its
        second factors last."""
        fields = list(COMMON_FIELDS)
        extra = preset_for(self._kind(request, obj)).fields
        if "allowed_tenants" in extra:
            fields.insert(fields.index("issuer") + 1, "allowed_tenants")
        if "trust_upstream_mfa" in extra:
            fields.append("trust_upstream_mfa")
        return fields

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        return ("kind",) if obj is not None else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.kind_chosen = self._kind(request, obj)
        return form

    def get_changeform_initial_data(self, request) -> dict[str, Any]:
        return {**preset_for(self._kind(request, None)).defaults(), **super().get_changeform_initial_data(request)}


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
