from django.urls import path

from . import views

app_name = "federation"

urlpatterns = [
    path("<slug:slug>/", views.start, name="start"),
    path("<slug:slug>/callback/", views.callback, name="callback"),
]
