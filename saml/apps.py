from django.apps import AppConfig


class SamlConfig(AppConfig):
    """A SAML 2.0 identity provider (pysaml2) for the apps that speak only SAML."""

    name = "saml"
    label = "saml"
    verbose_name = "SAML 2.0"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready: these modules import models.
        from . import checks, destinations, receivers, sections  # noqa: F401  (receivers connects to the accounts and directory signals)

        checks.register()
        sections.register()
        destinations.register()
        from . import account_data  # imports models: only once the app registry is ready

        account_data.register()
