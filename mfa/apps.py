from django.apps import AppConfig


class MfaConfig(AppConfig):
    """Second factors (TOTP, recovery codes, passkeys) arrive here with the MFA issues."""

    name = "mfa"
    verbose_name = "MFA"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects to the accounts signals)
        from .totp import cap_backoff

        cap_backoff()
