from django.apps import AppConfig


class FederationConfig(AppConfig):
    """Sign-in through other identity providers (OpenID Connect, with authlib as the client)."""

    name = "federation"
    verbose_name = "Sign-in providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready, since they import models: sections (the buttons, the
        # links, "Confirm with"), assurance (trusted second factors), realm (home-realm discovery), verify
        # (the mailed link), linking (confirming and linking); checks registers the check, metadata's
        # receivers forget a saved provider's cached discovery, receivers answer accounts' signals.
        from . import assurance, checks, linking, metadata, realm, receivers, sections, verify  # noqa: F401

        sections.register()
        assurance.register()
        realm.register()
        verify.register()
        linking.register()
        from . import account_data  # imports models: only once the app registry is ready

        account_data.register()
