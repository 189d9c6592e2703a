"""The forms of the self-service pages: the display name and deleting the account."""

from __future__ import annotations

import unicodedata

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import normalize_email

NAME_MAX_LENGTH = 150  # User.display_name's column

# Characters that change how the text around them is shown: a name with U+202E (RIGHT-TO-LEFT
# OVERRIDE) shows "Ada‮nimda" as "Adaadmin" in an app's header, and control characters break
# logs and mail headers. Joiners (U+200C, U+200D) stay allowed: Persian, Indic scripts and emoji need them.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def refused_name_character(name: str) -> str | None:
    """The first character a name may not hold, or None."""
    for char in name:
        if char in BIDI_CONTROLS or unicodedata.category(char) in {"Cc", "Cs", "Co", "Cn", "Zl", "Zp"}:
            return char
    return None


class DisplayNameForm(forms.Form):
    display_name = forms.CharField(
        label=_("Name"),
        required=False,
        max_length=NAME_MAX_LENGTH,
        strip=True,
        help_text=_("How apps you sign in to will greet you. Leave it empty to be shown by your email address."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["display_name"].widget.attrs.update({"autocomplete": "name"})

    def clean_display_name(self) -> str:
        name = unicodedata.normalize("NFC", self.cleaned_data["display_name"])
        if refused_name_character(name) is not None:
            raise forms.ValidationError(
                _("A name can't contain control characters or characters that change the direction of text."),
                code="name_control_character",
            )
        return " ".join(name.split())


class DeleteAccountForm(forms.Form):
    """Deleting needs the account's address typed again: a misplaced click must not delete anything."""

    email = forms.CharField(label=_("Type your email address to confirm"), max_length=254)

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(
            {"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        )

    def clean_email(self) -> str:
        typed = normalize_email(self.cleaned_data["email"])
        if typed.lower() != self.user.email.lower():
            raise forms.ValidationError(_("That is not this account's email address."), code="email_mismatch")
        return typed
