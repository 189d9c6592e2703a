from __future__ import annotations

import unicodedata

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from . import realms
from .flows.signin import SignInRefused, check_password_signin, verify_password
from .models import User, normalize_email


class EmailField(forms.EmailField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Email address"))
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.widget.attrs.update({"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"})

    def to_python(self, value):
        # Normalised first, so the validators (format, length) judge the address that will be stored.
        return normalize_email(super().to_python(value))


CONFIRM_NEW_PASSWORD = _("Confirm the new password")
CONFIRM_PASSWORD = _("Confirm the password")


class NormalizedPasswords:
    """Form mixin: every password input is NFKC-normalised before any rule sees it (NIST SP 800-63B),
    so the length and common-password rules judge the same string that is hashed, and none is longer
    than PASSWORD_MAX_LENGTH (which bounds hashing work on sign-in too)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field.widget, forms.PasswordInput):
                field.to_python = _normalizing(field.to_python)


def _normalizing(to_python):
    def normalized(value):
        value = to_python(value)
        if value and len(value) > settings.PASSWORD_MAX_LENGTH:
            raise forms.ValidationError(
                _("This password is too long. It must contain at most %(max_length)d characters.")
                % {"max_length": settings.PASSWORD_MAX_LENGTH},
                code="password_too_long",
            )
        return unicodedata.normalize("NFKC", value) if value else value

    return normalized


class NewPasswordField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Password"))
        kwargs.setdefault("strip", False)
        kwargs.setdefault("help_text", password_validation.password_validators_help_text_html())
        kwargs.setdefault("widget", forms.PasswordInput(attrs={"autocomplete": "new-password"}))
        super().__init__(**kwargs)


class SignInForm(NormalizedPasswords, forms.Form):
    email = EmailField()
    password = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    error_messages = {
        "invalid": _("That email address and password do not match an account. Check both and try again."),
        "unverified": _("Please verify your email address first. We can send you a new link."),
    }

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user: User | None = None
        self.refusal: str | None = None
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "username webauthn"  # passkeys in autofill
        self.fields["email"].widget.attrs["autofocus"] = True

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.user = check_password_signin(self.request, cleaned["email"], cleaned["password"])
        except SignInRefused as refusal:
            self.refusal = refusal.reason
            raise forms.ValidationError(self.error_messages[refusal.reason], code=refusal.reason) from refusal
        return cleaned


class SignInCodeForm(forms.Form):
    """The code mailed to an account past its password cap (flows/signin_code.py)."""

    code = forms.CharField(
        label=_("Sign-in code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "spellcheck": "false"}
        ),
    )


def bound_domain_error(realm: realms.Realm) -> forms.ValidationError:
    """An address whose domain an admin bound to a provider: it signs up and in there only."""
    return forms.ValidationError(
        _("Addresses at %(domain)s sign in with %(name)s. Continue with %(name)s instead."),
        code="bound_domain",
        params={"domain": realm.domain, "name": realm.name},
    )


class SignUpForm(NormalizedPasswords, forms.Form):
    email = EmailField()
    password = NewPasswordField()

    def __init__(self, *args, **kwargs):
        self.realm: realms.Realm | None = None
        super().__init__(*args, **kwargs)

    def clean_email(self):
        email = self.cleaned_data["email"]
        # Said of the domain, never of the address: it tells nobody whether an account exists.
        self.realm = realms.find(email)
        if self.realm is not None:
            raise bound_domain_error(self.realm)
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            try:
                password_validation.validate_password(password, User(email=cleaned.get("email", "")))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class SetPasswordForm(NormalizedPasswords, auth_forms.SetPasswordForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password2"].label = CONFIRM_NEW_PASSWORD  # Django's says "New password confirmation"


class EmailOnlyForm(forms.Form):
    email = EmailField()


class CurrentPasswordField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Current password"))
        kwargs.setdefault("strip", False)
        kwargs.setdefault("widget", forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}))
        super().__init__(**kwargs)


class PasswordChangeForm(NormalizedPasswords, auth_forms.PasswordChangeForm):
    """Django's form, with the current password checked under the sign-in rate limits."""

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)
        self.fields["old_password"].label = _("Current password")  # the security page's wording
        self.fields["new_password2"].label = CONFIRM_NEW_PASSWORD

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        if verify_password(self.request, self.user.email, old_password, purpose="password_change") is None:
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class ReauthenticateForm(NormalizedPasswords, forms.Form):
    password = CurrentPasswordField(label=_("Password"))


class NotMeForm(NormalizedPasswords, forms.Form):
    """The security page's "This wasn't me": the password is checked by report_not_me, not here."""

    password = CurrentPasswordField(
        label=_("Your current password, to confirm it's you"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "not-me-%s")
        super().__init__(*args, **kwargs)


class EmailChangeForm(forms.Form):
    email = EmailField(label=_("New email address"))

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_email(self):
        email = self.cleaned_data["email"]
        if email.lower() == self.user.email.lower():
            raise forms.ValidationError(_("That is already your address."), code="same")
        # A bound domain's addresses sign in through its provider only: moving an account there would
        # be a way to a password account in the domain that sign-up refuses.
        realm = realms.find(email)
        if realm is not None:
            raise forms.ValidationError(
                _("Addresses at %(domain)s sign in with %(name)s, so an account cannot move there."),
                code="bound_domain",
                params={"domain": realm.domain, "name": realm.name},
            )
        return email
