from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DirectoryConfig(AppConfig):
    """Groups, app roles and assignments: what a person may do in each relying app."""

    name = "directory"
    verbose_name = _("Directory")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready: changes.py imports models.
        from . import changes

        changes.connect()
        from . import account_data  # imports models: only once the app registry is ready

        account_data.register()
