"""The pages say where you are: the sign-in page names the app waiting for it, consent names the app
and the domain its answer goes to (issue 19)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from tests.oidc.relying_party import register


def signin_page_for(client, next_url: str):
    return client.get(reverse("accounts:signin") + "?" + urlencode({"next": next_url}))


def test_the_sign_in_page_reached_from_an_app_names_it(rp, client):
    page = client.get(rp.authorization()["url"], follow=True)
    assert page.status_code == 200 and "accounts/signin.html" in [t.name for t in page.templates]
    assert f"Sign in to continue to <strong>{rp.client.name}</strong>" in page.content.decode()


def test_the_app_is_named_in_german(rp, client):
    page = client.get(rp.authorization()["url"], follow=True, headers={"accept-language": "de"})
    assert f"Melden Sie sich an, um mit <strong>{rp.client.name}</strong> fortzufahren" in page.content.decode()


def test_a_plain_sign_in_names_no_app(client):
    assert b"signin-app" not in client.get(reverse("accounts:signin")).content


def test_an_unknown_client_id_names_no_app(db, client):
    page = signin_page_for(client, "/oauth/authorize/?client_id=Evil%20Corp%20Bank&response_type=code")
    assert b"signin-app" not in page.content and b"Evil Corp Bank" not in page.content


def test_text_in_the_query_is_never_shown_as_the_apps_name(rp, client):
    """A crafted next naming a real app twice, or carrying text of its own, shows nothing it chose."""
    twice = f"/oauth/authorize/?client_id={rp.client.client_id}&client_id=Pay+here"
    assert b"signin-app" not in signin_page_for(client, twice).content
    injected = f"/oauth/authorize/?client_id={rp.client.client_id}&name=<b>Evil</b>"
    page = signin_page_for(client, injected).content.decode()
    assert f"<strong>{rp.client.name}</strong>" in page and "<b>Evil</b>" not in page


def test_an_apps_name_is_escaped(db, client):
    evil, _ = register("<script>alert(1)</script>")
    page = signin_page_for(client, f"/oauth/authorize/?client_id={evil.client_id}").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_client_id_on_another_path_names_no_app(rp, client):
    for next_url in (
        f"/accounts/security/?client_id={rp.client.client_id}",
        f"//evil.example/oauth/authorize/?client_id={rp.client.client_id}",
    ):
        assert b"signin-app" not in signin_page_for(client, next_url).content


def test_consent_names_the_app_and_the_domain_it_returns_to(rp, signed_in_client):
    page = signed_in_client.get(rp.authorization()["url"])
    assert page.status_code == 200 and "oidc/consent.html" in [t.name for t in page.templates]
    assert f"<strong>{rp.client.name}</strong> will receive your answer at <strong>rp.example</strong>" in (
        page.content.decode()
    )
