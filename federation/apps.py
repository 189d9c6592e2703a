from django.apps import AppConfig


class FederationConfig(AppConfig):
    """Sign-in through other identity providers (OpenID Connect, with authlib as the client)."""

    name = "federation"
    verbose_name = "Sign-in providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready: sections imports models; checks registers the check.
        from . import checks, sections  # noqa: F401

        sections.register()
        # Imported once the app registry is ready: both import models (home-realm discovery, mail).
        from . import realm, verify

        realm.register()
        verify.register()
