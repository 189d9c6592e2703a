from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import include, path


@login_required
def page(request):
    """The signed-in page: allauth's own page layout (its menu for a signed-in user) around a few facts."""
    return render(request, "page.html")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", page),
]
