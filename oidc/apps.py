from django.apps import AppConfig


class OidcConfig(AppConfig):
    """The OpenID Connect provider: django-oauth-toolkit, configured and hardened for Identity."""

    name = "oidc"
    label = "oidc"
    verbose_name = "OpenID Connect"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready: these modules import models.
        from identity import health

        from . import destinations, receivers, sections  # noqa: F401  (receivers connects to the accounts signals)
        from .checks import signing_keys_ready  # registers the system check too

        health.add_check("signing_keys", signing_keys_ready)
        sections.register()
        destinations.register()
        from . import account_data  # imports models: only once the app registry is ready

        account_data.register()
