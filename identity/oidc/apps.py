from django.apps import AppConfig


class OidcConfig(AppConfig):
    """The OpenID Connect provider: django-oauth-toolkit, configured and hardened for Identity."""

    name = "identity.oidc"
    label = "oidc"
    verbose_name = "OpenID Connect"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects to the accounts signals)
