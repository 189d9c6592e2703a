from django.urls import path

from . import views

app_name = "mfa"

urlpatterns = [
    path("mfa/", views.challenge, name="challenge"),
    path("security/totp/add/", views.totp_add, name="totp_add"),
    path("security/totp/<int:device_id>/remove/", views.totp_remove, name="totp_remove"),
    path("security/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("security/recovery-codes/regenerate/", views.recovery_regenerate, name="recovery_regenerate"),
]

from .passkeys import views as passkey_views  # noqa: E402

urlpatterns += [
    path("passkeys/register/options/", passkey_views.register_options, name="passkey_register_options"),
    path("passkeys/register/", passkey_views.register, name="passkey_register"),
    path("passkeys/signin/options/", passkey_views.signin_options, name="passkey_signin_options"),
    path("passkeys/signin/", passkey_views.signin, name="passkey_signin"),
    path(
        "passkeys/reauthenticate/options/",
        passkey_views.reauthenticate_options,
        name="passkey_reauthenticate_options",
    ),
    path("passkeys/reauthenticate/", passkey_views.reauthenticate, name="passkey_reauthenticate"),
    path("security/passkeys/<int:passkey_id>/rename/", passkey_views.rename, name="passkey_rename"),
    path("security/passkeys/<int:passkey_id>/remove/", passkey_views.remove, name="passkey_remove"),
]
