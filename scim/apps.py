from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScimConfig(AppConfig):
    """Provisioning over SCIM 2.0: clients, their tokens and limits, and the /scim/v2/ endpoints."""

    name = "scim"
    verbose_name = _("SCIM provisioning")
    default_auto_field = "django.db.models.BigAutoField"
