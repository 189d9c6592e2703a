from django.urls import path

from . import views

app_name = "federation"

urlpatterns = [
    path("<slug:slug>/", views.start, name="start"),
    path("<slug:slug>/callback/", views.callback, name="callback"),
    path("<slug:slug>/confirm/", views.confirm, name="confirm"),
    path("<slug:slug>/link/", views.link, name="link"),
    path("links/<int:link_id>/unlink/", views.unlink, name="unlink"),
]
