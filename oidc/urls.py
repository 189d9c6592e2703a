from django.urls import path, re_path
from oauth2_provider import views as dot

from . import views

# DOT's views reverse their siblings under this namespace (for the discovery document).
app_name = "oauth2_provider"

urlpatterns = [
    re_path(
        r"^\.well-known/openid-configuration/?$", views.DiscoveryView.as_view(), name="oidc-connect-discovery-info"
    ),
    path("oauth/authorize/", views.AuthorizeView.as_view(), name="authorize"),
    path("oauth/token/", views.TokenView.as_view(), name="token"),
    path("oauth/userinfo/", views.UserInfoView.as_view(), name="user-info"),
    path("oauth/jwks/", views.JwksView.as_view(), name="jwks-info"),
    path("oauth/revoke/", dot.RevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/introspect/", views.IntrospectView.as_view(), name="introspect"),
    path("oauth/logout/", views.LogoutView.as_view(), name="rp-initiated-logout"),
    path("accounts/security/apps/<str:client_id>/revoke/", views.revoke_app_view, name="revoke-app"),
]
