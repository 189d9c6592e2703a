from django.urls import path, re_path

from .views import scim_endpoint

app_name = "scim"

urlpatterns = [
    path("scim/v2", scim_endpoint, name="root"),
    re_path(r"^scim/v2/(?P<path>.*)$", scim_endpoint, name="endpoint"),
]
