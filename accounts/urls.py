from django.urls import path

from . import views
from .views import account_data, not_me_links, profile

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.signin, name="signin"),
    path("login/code/", views.signin_code, name="signin_code"),
    path("login/realm/", views.signin_realm, name="signin_realm"),
    path("logout/", views.signout, name="signout"),
    path("signup/", views.signup, name="signup"),
    path("signup/check-inbox/", views.check_inbox, name="check_inbox"),
    path("verify/confirm/", views.verify_email_confirm, name="verify_email_confirm"),
    path("verify/resend/", views.verify_email_resend, name="verify_email_resend"),
    path("verify/<str:token>/", views.verify_email_link, name="verify_email"),
    path("security/", views.security_page, name="security"),
    path("security/sessions/end/", views.end_session, name="end_session"),
    path("security/sessions/end-others/", views.end_other_sessions_view, name="end_other_sessions"),
    path("security/not-me/", views.not_me, name="not_me"),
    path("not-me/confirm/", not_me_links.not_me_confirm, name="not_me_confirm"),
    path("not-me/done/", not_me_links.not_me_done, name="not_me_done"),
    path("not-me/<str:token>/", not_me_links.not_me_link, name="not_me_link"),
    path("reauthenticate/", views.reauthenticate, name="reauthenticate"),
    path("name/", profile.name_change, name="name_change"),
    path("language/", profile.choose_language, name="language"),
    path("data/", account_data.download_data, name="download_data"),
    path("delete/", account_data.delete_account, name="delete_account"),
    path("deleted/", account_data.account_deleted, name="account_deleted"),
    path("email/", views.email_change, name="email_change"),
    path("email/confirm/", views.email_change_confirm, name="email_change_confirm"),
    path("email/confirm/<str:token>/", views.email_change_link, name="email_change_link"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", views.password_reset, name="password_reset"),
    path("password/reset/sent/", views.password_reset_sent, name="password_reset_sent"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
]
