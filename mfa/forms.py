from django import forms
from django.utils.translation import gettext_lazy as _

from .totp import normalize_code


class CodeField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("6-digit code"))
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.update(
            {"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": r"[0-9 ]*", "autofocus": True}
        )

    def clean(self, value):
        value = super().clean(value)
        if normalize_code(value) is None:
            raise forms.ValidationError(_("Enter the 6 digits your authenticator app shows."), code="format")
        return normalize_code(value)


class TOTPChallengeForm(forms.Form):
    code = CodeField()


class RecoveryCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Recovery code"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}),
    )


class TOTPEnrolForm(forms.Form):
    name = forms.CharField(
        label=_("Name this authenticator"),
        max_length=64,
        initial=_("Authenticator app"),
        help_text=_("So you can tell your authenticators apart, e.g. “Phone”."),
    )
    code = CodeField(label=_("Code from the app"))
