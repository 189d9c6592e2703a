from django.apps import AppConfig


class FederationConfig(AppConfig):
    """Sign-in through other identity providers (OpenID Connect, with authlib as the client)."""

    name = "federation"
    verbose_name = "Sign-in providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready: sections, assurance and linking import models; checks
        # registers the check; receivers connects to the accounts signals.
        from . import assurance, checks, linking, receivers, sections  # noqa: F401

        sections.register()
        assurance.register()
        linking.register()
