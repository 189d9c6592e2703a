from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """The project's own infrastructure (settings checks, error pages, metrics). No models."""

    name = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from . import checks  # noqa: F401  registers identity's system checks on import, once the apps are loaded
