from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps

from identity.metrics import add_scrape_time_collector


class AccountsConfig(AppConfig):
    default = True
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (writes the refusals identity announces to the audit trail)
        from .metrics import OUTBOX  # imported once the app registry is ready: it imports models

        add_scrape_time_collector(OUTBOX)
        from . import checks  # noqa: F401  registers accounts' system checks, reading its app settings


class IdentityAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with the site in admin_site.py (its module imports models, so it is named here)."""

    default = False
    default_site = "accounts.admin_site.IdentityAdminSite"
