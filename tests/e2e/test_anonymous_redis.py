"""An app's "sign in again" (prompt=login) from a signed-out Chromium stores nothing in Redis until the
person signs in, and still needs only that one sign-in (issue 13, section 5).

The site runs with the production cookie settings (`Secure`, `__Host-` cookies), so the signed note of
the request that asked for the fresh sign-in rides in `__Host-fresh-signin` as it would in production.
The app's callback is answered by the test (page.route), which keeps the code it receives. Redis is
read directly (not through the ORM, which Playwright's loop forbids here).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from identity.redis import connection
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.oidc.relying_party import REDIRECT_URI, RelyingParty, register
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sessions() -> list[bytes | str]:
    return connection().keys("session:*")


def test_a_signed_out_browser_sent_to_sign_in_again_leaves_no_session_until_it_signs_in(
    sync_playwright, site, make_user
):
    user = make_user("grace@example.com")
    client, secret = register("First party", skip_authorization=True)
    app = RelyingParty(client, secret)
    request = app.authorization(prompt="login")
    callbacks: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.route(
                f"{REDIRECT_URI}**",
                lambda route: (callbacks.append(route.request.url), route.fulfill(status=200, body="app"))[-1],
            )
            for _ in range(25):  # the app sends the person, or a script reloads, again and again
                page.goto(f"{site}{request['url']}")
                assert page.url.startswith(f"{site}/accounts/login/?next="), page.url
                assert page.locator("h1").inner_text() == "Sign in"
            page.wait_for_load_state("networkidle")  # the page's own passkey options request included
            assert _sessions() == [], "a signed-out visit stored a session"
            assert any(cookie["name"] == "__Host-fresh-signin" for cookie in page.context.cookies())

            page.get_by_label("Email address").fill(user.email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{REDIRECT_URI}**")
            assert len(_sessions()) == 1, "the sign-in is what begins the session"
        finally:
            browser.close()

    [callback] = callbacks  # straight back to the app: not asked to sign in a second time
    returned = {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}
    assert returned["state"] == request["params"]["state"] and "code" in returned
    tokens = app.redeem(returned["code"], request["verifier"])
    assert tokens.status_code == 200, tokens.content
