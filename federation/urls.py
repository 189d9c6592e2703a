from django.urls import path

from . import verify_views, views

app_name = "federation"

urlpatterns = [
    # Before the providers' own addresses: "verify" is a reserved slug (models.RESERVED_SLUGS).
    path("verify/sent/", verify_views.verify_sent, name="verify_sent"),
    path("verify/confirm/", verify_views.verify_confirm, name="verify_confirm"),
    path("verify/<str:token>/", verify_views.verify_link, name="verify_link"),
    path("<slug:slug>/", views.start, name="start"),
    path("<slug:slug>/callback/", views.callback, name="callback"),
    path("<slug:slug>/confirm/", views.confirm, name="confirm"),
    path("<slug:slug>/link/", views.link, name="link"),
    path("links/<int:link_id>/unlink/", views.unlink, name="unlink"),
]
