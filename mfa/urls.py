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
