from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class IdentityAdminSite(admin.AdminSite):
    site_header = "Identity administration"

    def has_permission(self, request) -> bool:
        """Staff only, and, where policy requires MFA, only in a session signed in with a second factor."""
        from accounts.flows.signin import session_factors
        from mfa.policy import SECOND_FACTORS, must_have_mfa

        if not super().has_permission(request):
            return False
        return not must_have_mfa(request.user) or bool(session_factors(request) & SECOND_FACTORS)


class IdentityAdminConfig(AdminConfig):
    default_site = "identity.admin_site.IdentityAdminSite"

    def ready(self) -> None:
        super().ready()
        from identity import checks  # noqa: F401  registers identity's own system checks
