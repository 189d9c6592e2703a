from django.apps import AppConfig


class MfaConfig(AppConfig):
    """Second factors (TOTP, recovery codes, passkeys) arrive here with the MFA issues."""

    name = "mfa"
    verbose_name = "MFA"

    def ready(self) -> None:
        # Imported once the app registry is ready: these modules import models.
        from . import receivers, sections, stages  # noqa: F401  (receivers connects to the accounts signals)
        from .totp import cap_backoff

        cap_backoff()
        stages.register()
        sections.register()
        from . import account_data  # imports models: only once the app registry is ready

        account_data.register()
