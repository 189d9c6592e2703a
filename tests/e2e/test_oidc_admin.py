"""The relying app's admin page in a real Chromium, desktop and phone widths, English and German: a new
app signs its tokens with ES256 unless the admin picks RS256 (issue 18). Screenshots land in
test-artifacts/oidc-admin/. The admin signs in through Django's test client (tests/users.py)."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.e2e.browser import Screenshots, Watch, signed_in_context
from tests.e2e.test_passkeys import launch
from tests.users import sign_in_admin

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADD = "/admin/oidc/client/add/"
WORDS = {"en": "Token signing", "de": "Token-Signatur"}
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("oidc-admin")


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_new_app_signs_with_es256_and_may_choose_rs256(sync_playwright, site, make_admin, snap, language):
    session = sign_in_admin(make_admin()).cookies[settings.SESSION_COOKIE_NAME].value
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        for width_name, (width, height) in WIDTHS.items():
            context = signed_in_context(browser, session, locale=language, width=width, height=height)
            page = context.new_page()
            watch.attach(page)
            page.goto(site + ADD)
            assert WORDS[language] in page.locator("fieldset h2").all_inner_texts()
            assert page.input_value("#id_algorithm") == "ES256"
            options = page.locator("#id_algorithm option").all_inner_texts()
            assert {"ES256", "RS256"} <= {option.split()[0] for option in options if option.strip()}, options
            page.locator("#id_algorithm").scroll_into_view_if_needed()
            snap(page, f"algorithm-{width_name}-{language}")
            context.close()
        browser.close()

    assert not watch.errors, watch.errors
