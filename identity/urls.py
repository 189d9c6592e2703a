from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from .metrics import metrics_view

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="accounts:home", permanent=False)),
    path("", include("oidc.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("mfa.urls")),
    path("accounts/federation/", include("federation.urls")),
    path("", include("scim.urls")),
    path("", include("saml.urls")),
    path("metrics", metrics_view),
    path("admin/", admin.site.urls),
]

handler400 = "identity.views.bad_request"
handler404 = "identity.views.page_not_found"
handler500 = "identity.views.server_error"
