from functools import cache

import httpx
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, ngettext
from pwned_passwords_django.api import PwnedPasswords
from pwned_passwords_django.validators import PwnedPasswordsValidator

from .app_settings import app_settings


class MaximumLengthValidator:
    """Bounds the work one password can cause; the limit is far above what NIST asks to accept (64)."""

    def __init__(self, max_length: int = 1024):
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long. It must contain at most %(max_length)d character.",
                    "This password is too long. It must contain at most %(max_length)d characters.",
                    self.max_length,
                ),
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return _("Your password can be up to %(max_length)d characters long.") % {"max_length": self.max_length}


class BreachedPasswordValidator(PwnedPasswordsValidator):
    """Refuses a new password found in Have I Been Pwned's Pwned Passwords (ASVS 6.2.12, NIST SP
    800-63B 3.1.1.2), by pwned-passwords-django: only the first 5 hex digits of the password's SHA-1
    leave the server (k-anonymity), with `Add-Padding: true` so the answer's size tells nothing.

    Fail-open to the offline floor: when the service is off (PASSWORD_BREACH_CHECK) or does not answer
    within PASSWORD_BREACH_CHECK_TIMEOUT, the library falls back to Django's common-password list, so
    a third party's outage never stops sign-up or a password reset (recovery must stay possible), and
    the blocklist NIST requires is still applied. CommonPasswordValidator stays in the list as well.
    """

    def __init__(self) -> None:
        super().__init__(
            # A plain msgid: the library passes it to ngettext, which translates it when it is raised.
            error_message=gettext_noop(
                "This password has appeared in a data breach, so attackers try it first. Please choose a different one."
            ),
            help_message=gettext_lazy("Your password can't be one that has appeared in a known data breach."),
        )

    def validate(self, password: str, user=None) -> None:
        if not app_settings.PASSWORD_BREACH_CHECK:
            return
        self.api_client = _range_client(
            app_settings.PASSWORD_BREACH_CHECK_URL, app_settings.PASSWORD_BREACH_CHECK_TIMEOUT
        )
        super().validate(password, user)


@cache
def _range_client(url: str, timeout: float) -> PwnedPasswords:
    """One client (and connection pool) per configured endpoint and timeout."""
    client = PwnedPasswords(client=httpx.Client(), async_client=httpx.AsyncClient())
    client.api_endpoint = url if url.endswith("/") else url + "/"
    client.request_timeout = httpx.Timeout(timeout)
    client.add_padding = True
    return client
