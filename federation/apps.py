from django.apps import AppConfig


class FederationConfig(AppConfig):
    """Sign-in through other identity providers (OpenID Connect, with authlib as the client)."""

    name = "federation"
    verbose_name = "Sign-in providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready: sections and assurance import models; checks
        # registers the check.
        from . import assurance, checks, sections  # noqa: F401

        sections.register()
        assurance.register()
        # Its receivers forget a provider's cached discovery and keys when it is saved.
        from . import metadata  # noqa: F401
