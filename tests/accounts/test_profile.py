"""The display name page and the language switcher (issue 19, self-service)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import OutboxMail, SecurityEvent
from accounts.outbox import queue_mail, render_mail
from tests.oidc.relying_party import RelyingParty, register
from tests.users import PASSWORD

NAME_URL = "/accounts/name/"
LANGUAGE_URL = "/accounts/language/"

pytestmark = pytest.mark.django_db


# --- the display name -----------------------------------------------------------------------------


def test_the_name_is_saved_stripped_audited_and_shown(signed_in_client, user):
    response = signed_in_client.post(NAME_URL, {"display_name": "  Ada   Lovelace  "})
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    user.refresh_from_db()
    assert user.display_name == "Ada Lovelace"
    assert SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.NAME_CHANGED).count() == 1
    assert "Ada Lovelace" in signed_in_client.get("/accounts/").content.decode()


def test_the_name_page_is_linked_from_home_and_security(signed_in_client):
    assert NAME_URL in signed_in_client.get("/accounts/").content.decode()
    assert NAME_URL in signed_in_client.get("/accounts/security/").content.decode()


@pytest.mark.parametrize(
    "name",
    ["Ada\u202enimda", "Ada\u2066x\u2069", "Ada\x00", "Ada\nLovelace", "Ada\x1b[31m", "Ada\u200f", "Ada\u2028x"],
)
def test_control_and_direction_characters_are_refused_with_a_message(signed_in_client, user, name):
    response = signed_in_client.post(NAME_URL, {"display_name": name})
    assert response.status_code == 400
    page = response.content.decode()
    assert "change the direction of text" in page or "Null characters are not allowed" in page
    user.refresh_from_db()
    assert user.display_name == ""
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.NAME_CHANGED).exists()


def test_joiners_that_scripts_and_emoji_need_are_kept(signed_in_client, user):
    name = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 👩\u200d💻"
    assert signed_in_client.post(NAME_URL, {"display_name": name}).status_code == 302
    user.refresh_from_db()
    assert user.display_name == name


def test_a_name_too_long_is_refused(signed_in_client, user):
    response = signed_in_client.post(NAME_URL, {"display_name": "a" * 151})
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.display_name == ""


def test_an_empty_name_clears_it(signed_in_client, user):
    user.display_name = "Ada"
    user.save()
    assert signed_in_client.post(NAME_URL, {"display_name": "   "}).status_code == 302
    user.refresh_from_db()
    assert user.display_name == ""


def test_the_name_page_needs_a_signed_in_person_and_csrf(client, user):
    assert client.get(NAME_URL).status_code == 302
    assert client.post(NAME_URL, {"display_name": "Mallory"}).status_code == 302
    strict = Client(enforce_csrf_checks=True, raise_request_exception=False)
    strict.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert strict.post(NAME_URL, {"display_name": "Mallory"}).status_code == 403
    user.refresh_from_db()
    assert user.display_name == ""


def test_apps_receive_the_new_name_in_the_id_token_and_userinfo(signed_in_client, user):
    rp = RelyingParty(*register())
    before = rp.sign_in_and_redeem(signed_in_client)
    assert "name" not in before["claims"]
    signed_in_client.post(NAME_URL, {"display_name": "Ada Lovelace"})
    after = rp.sign_in_and_redeem(signed_in_client)
    assert after["claims"]["name"] == "Ada Lovelace"
    assert rp.userinfo(after["access_token"]).json()["name"] == "Ada Lovelace"
    # An access token issued before the change tells the new name too: userinfo reads the account.
    assert rp.userinfo(before["access_token"]).json()["name"] == "Ada Lovelace"


# --- the language -------------------------------------------------------------------------------


def test_every_page_has_a_switcher_that_posts_to_the_language_view(client):
    page = client.get("/accounts/login/").content.decode()
    assert f'action="{LANGUAGE_URL}"' in page and 'name="language" value="de"' in page
    assert 'name="csrfmiddlewaretoken"' in page.split(LANGUAGE_URL)[1]


def test_a_page_with_a_token_in_its_url_has_no_switcher(client):
    """Sent with no-referrer, its POST would carry `Origin: null` and CSRF would refuse the switch."""
    response = client.get("/accounts/verify/not-a-token/")
    assert response["Referrer-Policy"] == "no-referrer"
    assert LANGUAGE_URL not in response.content.decode()


def test_the_browser_preference_is_the_default(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert 'lang="de"' in page


def test_the_choice_is_a_long_lived_secure_lax_cookie(client, settings):
    response = client.post(LANGUAGE_URL, {"language": "de", "next": "/accounts/login/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "de"
    assert cookie["samesite"] == "Lax" and cookie["httponly"]
    assert int(cookie["max-age"]) >= 180 * 24 * 3600
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="de"' in page  # the choice wins over the browser's preference


def test_the_production_cookie_is_secure_and_host_prefixed():
    """identity/settings.py outside development (SECURE_COOKIES defaults to on without DEBUG)."""
    import subprocess
    import sys

    code = (
        "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='identity.settings';django.setup();"
        "from django.conf import settings as s;print(s.LANGUAGE_COOKIE_NAME, s.LANGUAGE_COOKIE_SECURE)"
    )
    env = {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_DEBUG": "0", "SECURE_COOKIES": "1", "PATH": "/usr/bin:/bin"}
    env.update(DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused", SITE_URL="https://id.example.com")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert done.stdout.split() == ["__Host-language", "True"], done.stderr[-2000:]


def test_an_off_site_next_is_not_followed(client):
    for next_url in ["https://evil.example/", "//evil.example/", "/\\evil.example/"]:
        response = client.post(LANGUAGE_URL, {"language": "de", "next": next_url})
        assert response.status_code == 302
        assert response["Location"] == "/", next_url


def test_an_unknown_language_changes_nothing(client, settings):
    response = client.post(LANGUAGE_URL, {"language": "xx", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_get_changes_nothing(signed_in_client, user, settings):
    response = signed_in_client.get(LANGUAGE_URL, {"language": "de"})
    assert response.status_code == 405
    user.refresh_from_db()
    assert user.language == ""


def test_a_signed_in_choice_follows_the_person_to_another_browser(signed_in_client, user, settings):
    signed_in_client.post(LANGUAGE_URL, {"language": "de", "next": "/accounts/"})
    user.refresh_from_db()
    assert user.language == "de"
    other = Client(raise_request_exception=False)
    other.post("/accounts/login/", {"email": user.email, "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
    response = other.get("/accounts/", HTTP_ACCEPT_LANGUAGE="en")
    assert 'lang="de"' in response.content.decode()
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    other.post("/accounts/logout/")  # signed out, that browser still speaks German
    assert 'lang="de"' in other.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_switching_back_in_another_browser_is_kept(signed_in_client, user):
    user.language = "de"
    user.save()
    response = signed_in_client.post(LANGUAGE_URL, {"language": "en", "next": "/accounts/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    user.refresh_from_db()
    assert user.language == "en"
    assert 'lang="en"' in signed_in_client.get("/accounts/", HTTP_ACCEPT_LANGUAGE="de").content.decode()


def test_the_switcher_works_with_csrf_enforced(user):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/accounts/login/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = browser.post(LANGUAGE_URL, {"language": "de", "next": "/", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Client(enforce_csrf_checks=True).post(LANGUAGE_URL, {"language": "de"}).status_code == 403


def test_mail_uses_the_stored_language(user):
    user.language = "de"
    user.save()
    row = queue_mail(OutboxMail.Kind.PASSWORD_CHANGED, user)
    assert row.language == "de"
    message = render_mail(row)
    user.language = ""
    user.save()
    english = render_mail(queue_mail(OutboxMail.Kind.PASSWORD_CHANGED, user))
    assert message.subject != english.subject


def test_a_page_with_a_query_comes_back_by_the_referer_and_echoes_no_query(client):
    """The sign-in page an app sent someone to keeps its `next` through a language switch."""
    target = "/accounts/login/?next=%2Foauth%2Fauthorize%2F%3Fclient_id%3Dabc"
    page = client.get(target).content.decode()
    form = page.split(f'action="{LANGUAGE_URL}"')[1].split("</form>")[0]
    assert 'name="next"' not in form and "client_id" not in form
    response = client.post(LANGUAGE_URL, {"language": "de"}, HTTP_REFERER=f"http://testserver{target}")
    assert response["Location"] == f"http://testserver{target}"
    off_site = client.post(LANGUAGE_URL, {"language": "de"}, HTTP_REFERER="https://evil.example/")
    assert off_site["Location"] == "/"
