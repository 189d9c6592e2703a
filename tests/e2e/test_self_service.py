"""The self-service pages in Chromium, English and German, desktop and phone: the name page (and its
refusal of a direction override), the language switcher without JavaScript, the security page's new
section, deleting the account and the page after it. No page may scroll sideways.
Screenshots: test-artifacts/selfserve/."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots, signed_in_context
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def session_cookie(email: str) -> str:
    browser = Client()
    assert browser.post("/accounts/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


def assert_no_sideways_scroll(page) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{page.url}: {scroll}px wide in a {inner}px window"


def test_self_service_pages_in_both_languages_and_widths(sync_playwright, localhost_site, make_user):
    shots = Screenshots("selfserve")
    combos = [(language, size) for language in ("en", "de") for size in SIZES]
    emails = {combo: f"ada-{combo[0]}-{combo[1]}@example.com" for combo in combos}
    for email in emails.values():
        make_user(email)
    cookies = {combo: session_cookie(email) for combo, email in emails.items()}
    deleted = {"en": "Your account was deleted", "de": "Ihr Konto wurde gelöscht"}

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for language, size in combos:
            width, height = SIZES[size]
            tag = f"{language}-{size}"
            context = signed_in_context(
                chromium, cookies[(language, size)], locale=language, width=width, height=height
            )
            page = context.new_page()

            page.goto(f"{localhost_site}/accounts/name/")
            assert page.locator("html").get_attribute("lang") == language
            page.fill("#id_display_name", "Ada\u202enimda")
            page.get_by_role("button", name=re.compile("Save|Speichern")).click()
            assert page.locator(".field-errors").count() == 1
            assert_no_sideways_scroll(page)
            shots(page, f"name-refused-{tag}")
            page.fill("#id_display_name", "Ada Lovelace")
            page.get_by_role("button", name=re.compile("Save|Speichern")).click()
            page.wait_for_url(f"{localhost_site}/accounts/")
            assert "Ada Lovelace" in page.content()
            assert_no_sideways_scroll(page)
            shots(page, f"home-{tag}")

            page.goto(f"{localhost_site}/accounts/name/")
            assert_no_sideways_scroll(page)
            shots(page, f"name-{tag}")

            page.goto(f"{localhost_site}/accounts/security/")
            page.locator("#your-data-heading").scroll_into_view_if_needed()
            assert_no_sideways_scroll(page)
            shots(page, f"security-{tag}")

            page.goto(f"{localhost_site}/accounts/delete/")
            assert_no_sideways_scroll(page)
            shots(page, f"delete-{tag}")
            page.fill("#id_email", "someone-else@example.com")
            page.locator("button.danger").click()
            assert page.locator(".field-errors").count() == 1
            assert_no_sideways_scroll(page)
            shots(page, f"delete-refused-{tag}")
            page.fill("#id_email", emails[(language, size)])
            page.locator("button.danger").click()
            page.wait_for_url(f"{localhost_site}/accounts/deleted/")
            assert deleted[language] in page.content()
            assert_no_sideways_scroll(page)
            shots(page, f"deleted-{tag}")

            # The switcher, signed out now, with JavaScript off: a plain form and its button.
            other = "de" if language == "en" else "en"
            plain = chromium.new_context(
                viewport={"width": width, "height": height}, locale=language, java_script_enabled=False
            )
            signin = plain.new_page()
            signin.goto(f"{localhost_site}/accounts/login/")
            assert_no_sideways_scroll(signin)
            shots(signin, f"signin-switcher-{tag}")
            signin.locator(f'.language-switcher button[value="{other}"]').click()
            signin.wait_for_url(f"{localhost_site}/accounts/login/")
            assert signin.locator("html").get_attribute("lang") == other
            shots(signin, f"signin-switched-to-{other}-{tag}")
            plain.close()
            context.close()
        chromium.close()

    assert not User.objects.filter(email__in=emails.values()).exists()
