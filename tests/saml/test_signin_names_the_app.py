"""The sign-in page reached from a SAML app names it, from the signed request parked for it only."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from tests.saml.pages import sign_on


def test_the_sign_in_page_reached_from_a_saml_app_names_it(sp, client):
    _request_id, page = sign_on(client, sp)
    assert "accounts/signin.html" in [t.name for t in page.templates]
    assert "Sign in to continue to <strong>Wiki</strong>" in page.content.decode()


def test_a_forged_parked_request_names_no_app(sp, client):
    forged = reverse("saml:sign-on") + "?" + urlencode({"request": "Wiki:forged"})
    page = client.get(reverse("accounts:signin") + "?" + urlencode({"next": forged}))
    assert page.status_code == 200 and b"signin-app" not in page.content
