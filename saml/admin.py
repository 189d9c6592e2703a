"""SAML apps in the admin: the app (a `SamlApp`, oidc's Client) with its service provider's metadata and
settings inline, its roles and assignments once it exists, and the sign-ons Single Logout works from.

Superusers only (SuperuserChangesOnly, as relying apps): an SP's metadata decides where assertions go, so
whoever could change its ACS URLs would collect everyone's sign-ons, superusers' included."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin
from accounts.superuser_admin import SuperuserChangesOnly
from directory.admin import AppAssignmentInline, AppRoleInline, AuditsDirectoryChanges

from .metadata import MetadataProblem, SpDescription, describe
from .models import SamlApp, ServiceProvider, SignOn
from .registration import MAX_METADATA_BYTES, checked, fetch_metadata

PROTECTED_SAML_APPS = _(
    "Only a superuser can change SAML apps: an app's metadata decides where its sign-ons (assertions) are sent."
)


class ServiceProviderForm(forms.ModelForm):
    """The SP's metadata from one of three places (an uploaded file, a URL fetched once now, or pasted
    XML), checked by pysaml2 (saml.metadata.describe) before anything is saved; the entity id comes from it."""

    metadata_file = forms.FileField(
        label=_("metadata file"), required=False, help_text=_("Or upload the metadata file the app gives you.")
    )
    metadata_url = forms.URLField(
        label=_("metadata URL"),
        required=False,
        assume_scheme="https",
        max_length=1024,
        help_text=_("Or where the app publishes its metadata (https): fetched once, when you save."),
    )

    class Meta:
        model = ServiceProvider
        fields = [
            "metadata_xml",
            "metadata_file",
            "metadata_url",
            "name_id_format",
            "release_email",
            "release_name",
            "release_groups",
            "release_roles",
            "idp_initiated",
        ]
        widgets = {"metadata_xml": forms.Textarea(attrs={"rows": 8, "class": "vLargeTextField saml-metadata"})}
        help_texts = {"metadata_xml": _("Paste the app's SAML metadata (an EntityDescriptor) here.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metadata_xml"].required = False  # one of the three sources is, checked in clean()

    def clean(self):
        cleaned = super().clean()
        xml = self._metadata(cleaned)
        if xml is None:
            return cleaned
        try:
            description = checked(xml, instead_of=self.instance)
        except MetadataProblem as problem:
            self.add_error(self._source, str(problem))
            return cleaned
        if self.instance.pk and description.entity_id != self.instance.entity_id:
            # Its pairwise NameIDs and sign-ons belong to the SP they were given to (the refetch refuses it too).
            self.add_error(
                self._source,
                _("This metadata is of another service provider (%(entity)s): register it as an app of its own.")
                % {"entity": description.entity_id},
            )
            return cleaned
        cleaned["metadata_xml"] = xml
        self.instance.entity_id = description.entity_id
        return cleaned

    def _metadata(self, cleaned) -> str | None:
        """The metadata XML from the source the admin gave (None after adding a form error)."""
        upload = cleaned.get("metadata_file")
        url = cleaned.get("metadata_url") or ""
        new_url = bool(url) and url != self.instance.metadata_url
        pasted = "metadata_xml" in self.changed_data and bool((cleaned.get("metadata_xml") or "").strip())
        if sum([bool(upload), new_url, pasted]) > 1:
            self._source = None
            raise ValidationError(_("Give the metadata one way: upload a file, a URL or paste it, not several."))
        self._source = "metadata_file" if upload else "metadata_url" if new_url else "metadata_xml"
        try:
            if upload:
                if upload.size > MAX_METADATA_BYTES:
                    raise MetadataProblem(gettext("The metadata is larger than 512 KiB."))
                return upload.read().decode("utf-8")
            if new_url:
                return fetch_metadata(url)
        except UnicodeDecodeError:
            self.add_error(self._source, gettext("The metadata is not UTF-8 text."))
            return None
        except MetadataProblem as problem:
            self.add_error(self._source, str(problem))
            return None
        return cleaned.get("metadata_xml") or ""


class ServiceProviderInline(admin.StackedInline):
    """The app's SAML side: exactly one, made with the app on the add page and never deleted alone."""

    model = ServiceProvider
    form = ServiceProviderForm
    fk_name = "app"
    min_num = max_num = 1
    extra = 0
    can_delete = False
    verbose_name = verbose_name_plural = _("SAML settings")
    readonly_fields = ["entity_id", "endpoints"]
    fieldsets = [
        (None, {"fields": ["entity_id", "metadata_xml", "metadata_file", "metadata_url", "endpoints"]}),
        (
            _("What the app gets"),
            {"fields": ["name_id_format", "release_email", "release_name", "release_groups", "release_roles"]},
        ),
        (_("Sign-on started at Identity"), {"fields": ["idp_initiated"]}),
    ]

    @admin.display(description=_("what the metadata says"))
    def endpoints(self, sp: ServiceProvider) -> str:
        if not sp.pk:
            return gettext("Shown once the app is saved.")
        try:
            description = describe(sp.metadata_xml)
        except MetadataProblem as problem:
            return gettext("The stored metadata cannot be used: %(problem)s") % {"problem": problem}
        return summary(description)


def summary(description: SpDescription) -> str:
    yes, no = gettext("yes"), gettext("no")
    acs = format_html_join("", "<li>{}</li>", ((url,) for url in description.acs))
    slo = format_html_join("", "<li>{} {}</li>", description.slo) or format_html("<li>{}</li>", gettext("none"))
    return format_html(
        '<dl class="saml-summary"><dt>{}</dt><dd><ul>{}</ul></dd><dt>{}</dt><dd><ul>{}</ul></dd>'
        "<dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        gettext("Assertion consumer services (HTTP-POST)"),
        acs,
        gettext("Single logout"),
        slo,
        gettext("Signs its requests"),
        yes if description.signs_requests else no,
        gettext("Encrypts (assertions are encrypted for it)"),
        yes if description.encrypts else no,
    )


class SamlAppForm(forms.ModelForm):
    name = forms.CharField(label=_("name"), max_length=255, help_text=_("The app's name, as people see it."))

    class Meta:
        model = SamlApp
        fields = ["name", "assignment_required"]


@admin.register(SamlApp)
class SamlAppAdmin(AuditsDirectoryChanges, SuperuserChangesOnly, admin.ModelAdmin):
    """A SAML app and its service provider in one form; saved through SamlApp.save (protocol "saml")."""

    form = SamlAppForm
    protected_message = PROTECTED_SAML_APPS
    list_display = ["name", "entity_id", "name_id_format", "assignment_required", "idp_initiated"]
    list_select_related = ["service_provider"]
    search_fields = ["name", "service_provider__entity_id"]
    fields = ["name", "assignment_required"]
    inlines = [ServiceProviderInline, AppRoleInline, AppAssignmentInline]
    actions = ["refetch_metadata"]

    class Media:
        css = {"all": ["saml/admin.css"]}

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else [ServiceProviderInline]  # roles and assignments once it exists

    @admin.display(description=_("entity id"), ordering="service_provider__entity_id")
    def entity_id(self, app: SamlApp) -> str:
        return getattr(_sp(app), "entity_id", "")

    @admin.display(description=_("NameID format"))
    def name_id_format(self, app: SamlApp) -> str:
        sp = _sp(app)
        return sp.get_name_id_format_display() if sp else ""

    @admin.display(description=_("IdP-initiated sign-on"), boolean=True)
    def idp_initiated(self, app: SamlApp) -> bool | None:
        sp = _sp(app)
        return sp.idp_initiated if sp else None

    @admin.action(permissions=["change"], description=_("Fetch metadata again from its URL"))
    def refetch_metadata(self, request, queryset):
        for app in queryset.select_related("service_provider"):
            sp = _sp(app)
            if sp is None or not sp.metadata_url:
                self.message_user(
                    request, gettext("%(app)s: no metadata URL to fetch from.") % {"app": app}, messages.WARNING
                )
                continue
            try:
                xml = fetch_metadata(sp.metadata_url)
                description = checked(xml, instead_of=sp)
                if description.entity_id != sp.entity_id:
                    raise MetadataProblem(
                        gettext("it now describes %(new)s, not %(old)s; register that as an app of its own.")
                        % {"new": description.entity_id, "old": sp.entity_id}
                    )
            except MetadataProblem as problem:
                self.message_user(request, f"{app}: {problem}", messages.ERROR)
                continue
            if xml == sp.metadata_xml:
                self.message_user(request, gettext("%(app)s: the metadata has not changed.") % {"app": app})
                continue
            sp.metadata_xml = xml
            sp.save(update_fields=["metadata_xml", "updated_at"])
            self.log_change(request, app, f"Fetched the metadata again from {sp.metadata_url}.")
            self.message_user(request, gettext("%(app)s: the metadata was updated.") % {"app": app}, messages.SUCCESS)


def _sp(app: SamlApp) -> ServiceProvider | None:
    try:
        return app.service_provider
    except ServiceProvider.DoesNotExist:
        return None


@admin.register(SignOn)
class SignOnAdmin(ReadOnlyAdmin):
    """Who signed on to which SAML app, when, and when that ended (Single Logout works from these)."""

    list_display = ["user", "service_provider", "signed_on_at", "ended_at", "logout_pending"]
    list_filter = ["service_provider", ("ended_at", admin.EmptyFieldListFilter), "logout_pending"]
    list_select_related = ["user", "service_provider__app"]
    search_fields = ["user__email", "service_provider__entity_id", "service_provider__app__name"]
    fields = ["user", "service_provider", "name_id_format", "signed_on_at", "ended_at", "logout_pending"]
    date_hierarchy = "signed_on_at"
