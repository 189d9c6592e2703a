from django.urls import path

from . import views

app_name = "saml"

urlpatterns = [
    path("saml/metadata/", views.idp_metadata, name="metadata"),
    path("saml/sso/", views.single_sign_on, name="sso"),
    path("saml/sign-on/", views.sign_on, name="sign-on"),
    path("saml/start/<int:pk>/", views.start, name="start"),
    path("saml/slo/", views.single_logout, name="slo"),
]
