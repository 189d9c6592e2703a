"""The OpenID Connect provider end to end: the example relying app, a real Chromium, the live server.

docs/examples/relying_app.py runs as a subprocess on a free loopback port (as a newcomer would run
it), registered beforehand as a Client with its exact redirect and post-logout URIs, and pointed at
pytest-django's live server. Chromium goes app → Identity's sign-in page → consent → app, which shows
the ID token claims it validated with authlib/joserfc against the published JWKS (signature, iss,
aud, exp, nonce, at_hash). Then it refreshes the tokens, calls userinfo, and signs out with
RP-initiated logout. Three ways in are checked: a password (amr ["pwd"]), a password and an
authenticator app (otp, mfa), and a passkey from a virtual authenticator (hwk, user). Screenshots of
each page land in test-artifacts/oidc/.

The issuer must be the URL the app is given (IDENTITY_URL = the live server). settings.SITE_URL is
set to it as in the other browser tests, but DOT's OIDC_ISS_ENDPOINT was copied from SITE_URL when
the settings module was imported ("http://testserver" here), so OAUTH2_PROVIDER is overridden too.
The site is browsed at http://localhost:<port> (WebAuthn needs a domain as relying party id); the
app runs on http://127.0.0.1:<port>, a different host, so the two sets of cookies never mix.

Three tests guard what these runs first caught: form posts that end at the app under the site's own
CSP (form-action), a public client's RP-initiated logout to its loopback URI, and the layout of the
consent and logout pages' buttons.

As in the other browser tests, no ORM call happens inside the `with sync_playwright()` block: users,
devices, passkeys and Clients are made before it and the database is checked after it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.models import SecurityEvent
from mfa.models import Passkey, PasskeyOwner
from oidc.models import Client, Consent, TokenFamily
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots, Watch
from tests.processes import free_port
from tests.users import PASSWORD, add_totp, totp_code

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "relying_app.py"
EMAIL = "katherine@example.com"
NAME = "Katherine Johnson"
SECRET = "example-app-secret-" + "k" * 40
APP_NAME = "Example app"
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": False,  # on only for the step that should use the passkey
}
OPTIONS = "/accounts/passkeys/signin/options/"

# Besides Chromium, each test runs the example relying app as a server of its own (start_app).
pytestmark = [pytest.mark.e2e, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("oidc")


@dataclass
class RelyingApp:
    url: str
    client_id: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_for_port(port: int, proc: subprocess.Popen, log_path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the example app exited ({proc.returncode}):\n{log_path.read_text()}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the example app did not listen on {port}:\n{log_path.read_text()}", pytrace=False)


@pytest.fixture
def start_app(site, settings, transactional_db, tmp_path):
    """Register a Client for a fresh port, then run docs/examples/relying_app.py on it."""
    procs: list[subprocess.Popen] = []

    def start(client_type: str = Client.CLIENT_CONFIDENTIAL) -> RelyingApp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        secret = SECRET if client_type == Client.CLIENT_CONFIDENTIAL else ""
        client = Client(
            name=APP_NAME,
            client_type=client_type,
            authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
            redirect_uris=f"{url}/callback",
            post_logout_redirect_uris=f"{url}/",
            client_secret=secret,  # hashed on save
            allowed_scopes="openid email profile offline_access",
        )
        client.full_clean()
        client.save()
        env = {**os.environ, "IDENTITY_URL": site, "CLIENT_ID": client.client_id, "PORT": str(port)}
        env.pop("CLIENT_SECRET", None)
        if secret:
            env["CLIENT_SECRET"] = secret
        log_path = tmp_path / f"relying-app-{port}.log"
        with open(log_path, "wb") as log:
            command = [sys.executable, "-u", str(EXAMPLE)]
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        _wait_for_port(port, proc, log_path)
        return RelyingApp(url=url, client_id=client.client_id, log_path=log_path)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def app_browser(p, app: RelyingApp, site: str, watch: Watch):
    """A fresh Chromium with one watched page (15 s default timeout) and the app read through it;
    closed however the test ends. Yields the browser context (for CDP) and the AppPage."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch.attach(page)
        yield context, AppPage(page, app, site, watch)
    finally:
        browser.close()


class AppPage:
    """The example app's pages, read as a person would (and its claims table as data)."""

    def __init__(self, page, app: RelyingApp, site: str, watch: Watch):
        self.page = page
        self.app = app
        self.site = site
        self.watch = watch

    def heading(self) -> str:
        return self.page.locator("h1").inner_text()

    def text(self) -> str:
        return self.page.locator("body").inner_text()

    def claims(self) -> dict:
        rows = self.page.locator("#claims tr")
        assert rows.count() > 0, f"no claims on {self.page.url}:\n{self.text()}\n{self.app.log()}"
        return {
            rows.nth(i).get_attribute("data-claim"): json.loads(rows.nth(i).locator("td").inner_text())
            for i in range(rows.count())
        }

    def access_token(self) -> str:
        return self.page.locator("#access-token").inner_text()

    def wait_home(self) -> None:
        try:
            self.page.wait_for_url(re.compile("^" + re.escape(f"{self.app.url}/") + r"(\?.*)?$"))
        except Exception as error:
            raise AssertionError(
                f"not back at the app: still at {self.page.url}, which says:\n{self.text()}\n"
                f"{self.watch.errors}\n{self.app.log()}"
            ) from error
        assert self.heading() == "Example app", f"{self.text()}\n{self.app.log()}"

    def start_sign_in(self) -> None:
        """From the signed-out app to Identity's sign-in page."""
        self.page.goto(f"{self.app.url}/")
        assert "You are not signed in." in self.text()
        self.page.get_by_role("link", name="Sign in with Identity").click()
        self.page.wait_for_url(re.compile("^" + re.escape(f"{self.site}/accounts/login/?next=") + r".*oauth"))
        assert self.page.locator("h1").inner_text() == "Sign in"

    def at_authorization(self) -> None:
        """Back at Identity's authorization endpoint (the consent page, or a step on the way to the app)."""
        self.page.wait_for_url(re.compile("^" + re.escape(f"{self.site}/oauth/authorize/?")))

    def sign_in_with_password(self, before_submit=None) -> None:
        """The Identity sign-in form, filled and sent (`before_submit(page)` runs just before sending)."""
        self.page.get_by_label("Email address").fill(EMAIL)
        self.page.get_by_label("Password").fill(PASSWORD)
        if before_submit:
            before_submit(self.page)
        self.page.get_by_role("button", name="Sign in", exact=True).click()

    def check_common_claims(self, claims: dict, user_subject: str) -> None:
        assert claims["iss"] == self.site
        assert claims["aud"] in (self.app.client_id, [self.app.client_id])
        assert claims["sub"] == user_subject  # opaque, never the database id
        assert claims["email"] == EMAIL and claims["email_verified"] is True
        assert claims["name"] == NAME
        assert isinstance(claims["auth_time"], int) and abs(claims["auth_time"] - time.time()) < 120
        assert claims["exp"] > time.time()
        assert claims["nonce"] and claims["at_hash"] and claims["sid"]


def test_password_sign_in_consent_refresh_userinfo_and_rp_initiated_logout(
    sync_playwright, site, make_user, start_app, empty_broker, snap
):
    user = make_user(EMAIL, display_name=NAME)
    subject = str(user.subject)
    app = start_app(Client.CLIENT_CONFIDENTIAL)
    watch = Watch(site)

    with sync_playwright() as p, app_browser(p, app, site, watch) as (context, rp):
        page = rp.page

        # The app, signed out, sends the browser to Identity, which asks for a sign-in first.
        page.goto(f"{app.url}/")
        assert rp.heading() == "Example app"
        snap(page, "app-signed-out")
        rp.start_sign_in()
        rp.sign_in_with_password(before_submit=lambda page: snap(page, "identity-signin"))

        # The consent page, at the authorization endpoint.
        rp.at_authorization()
        assert page.locator("h1").inner_text() == f"Allow {APP_NAME} to use your account?"
        main = page.locator("main").inner_text()
        assert EMAIL in main
        scopes = page.locator("ul.scopes li").all_inner_texts()
        assert scopes == [
            "Sign you in and know who you are",
            "See your email address",
            "See your name",
            "Keep access while you are away",
        ], scopes
        snap(page, "consent")
        page.get_by_role("button", name="Allow", exact=True).click()

        # Back at the app, which validated the ID token.
        rp.wait_home()
        assert f"Signed in as {EMAIL}" in rp.text()
        claims = rp.claims()
        rp.check_common_claims(claims, subject)
        assert claims["amr"] == ["pwd"]
        assert claims["acr"] == "urn:identity:loa:1fa"
        first_token = rp.access_token()
        snap(page, "app-signed-in-password")

        # Refresh: new tokens; the new ID token validates and describes the same sign-in.
        page.get_by_role("button", name="Refresh tokens").click()
        rp.wait_home()
        assert "Tokens refreshed; the new ID token was validated." in rp.text(), rp.app.log()
        refreshed = rp.claims()
        assert rp.access_token() != first_token
        assert refreshed["jti"] != claims["jti"]
        for name in ("sub", "auth_time", "amr", "acr", "sid", "iss", "aud"):
            assert refreshed[name] == claims[name], name
        snap(page, "app-refreshed")

        # Userinfo, with the refreshed access token.
        page.get_by_role("button", name="Call userinfo").click()
        rp.wait_home()
        info = json.loads(page.locator("#userinfo").inner_text())
        assert info == {"sub": subject, "email": EMAIL, "email_verified": True, "name": NAME}, info
        snap(page, "app-userinfo")

        # RP-initiated logout with id_token_hint (of this very session): no question asked, back at the app.
        page.get_by_role("button", name="Sign out").click()
        rp.wait_home()
        assert "You have signed out of this app and of Identity." in rp.text(), rp.app.log()
        assert page.get_by_role("link", name="Sign in with Identity").is_visible()
        assert page.locator("#claims").count() == 0
        snap(page, "app-after-logout")

        # The Identity session ended too.
        assert not any(c["name"] == "__Host-session" for c in context.cookies(site))
        page.goto(f"{site}/accounts/")
        page.wait_for_url(re.compile("^" + re.escape(f"{site}/accounts/login/?next=")))
        snap(page, "identity-signed-out")

        # Signing in to the app again: the consent is remembered, so no consent page this time.
        rp.start_sign_in()
        rp.sign_in_with_password()
        rp.wait_home()
        again = rp.claims()
        assert again["amr"] == ["pwd"] and again["sub"] == subject
        assert again["sid"] != claims["sid"]  # a new Identity session
        snap(page, "app-signed-in-again")

    assert watch.errors == []
    # Only now, with Playwright's loop gone, may this thread use the ORM.
    client = Client.objects.get(client_id=app.client_id)
    assert Consent.objects.get(user=user, client=client).scopes == "email offline_access openid profile"
    families = list(TokenFamily.objects.filter(user=user, client=client).order_by("created_at"))
    assert len(families) == 2
    assert families[0].revoked_at is not None  # ended with the Identity session it belonged to
    assert families[0].amr == ["pwd"] and families[0].session_ref == claims["sid"]
    assert families[1].revoked_at is None
    kinds = list(SecurityEvent.objects.filter(user=user).order_by("at", "pk").values_list("kind", flat=True))
    assert kinds.count(SecurityEvent.Kind.SIGNED_OUT) == 1
    assert kinds.count(SecurityEvent.Kind.SIGNIN_SUCCEEDED) == 2


def test_password_and_authenticator_app_then_logout_confirmed_at_identity(
    sync_playwright, site, make_user, start_app, empty_broker, snap
):
    user = make_user(EMAIL, display_name=NAME)
    subject = str(user.subject)
    device = add_totp(user, "Pixel phone")
    app = start_app(Client.CLIENT_CONFIDENTIAL)
    watch = Watch(site)

    with sync_playwright() as p, app_browser(p, app, site, watch) as (_context, rp):
        page = rp.page

        rp.start_sign_in()
        rp.sign_in_with_password()
        page.wait_for_url(f"{site}/accounts/mfa/")
        assert page.locator("h1").inner_text() == "Two-step verification"
        page.get_by_label("6-digit code").fill(totp_code(device))  # arithmetic on a loaded row: no ORM
        snap(page, "identity-mfa")
        page.get_by_role("button", name="Verify").click()

        rp.at_authorization()
        assert page.locator("h1").inner_text() == f"Allow {APP_NAME} to use your account?"
        page.get_by_role("button", name="Allow", exact=True).click()
        rp.wait_home()
        claims = rp.claims()
        rp.check_common_claims(claims, subject)
        assert claims["amr"] == ["pwd", "otp", "mfa"]
        assert claims["acr"] == "urn:identity:loa:mfa"
        snap(page, "app-signed-in-totp")

        # An app that kept no ID token sends only client_id: Identity asks before signing out.
        query = {"client_id": app.client_id, "post_logout_redirect_uri": f"{app.url}/", "state": "from-elsewhere"}
        page.goto(f"{site}/oauth/logout/?{urlencode(query)}")
        assert page.locator("h1").inner_text() == "Sign out?"
        assert f"{APP_NAME} asks you to sign out of" in page.locator("main").inner_text()
        snap(page, "identity-logout-confirm")
        page.locator("main").get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{app.url}/?state=from-elsewhere")
        # The app was not told (no back-channel logout registered): its own session goes on.
        assert rp.claims()["sub"] == subject
        page.goto(f"{site}/accounts/")
        page.wait_for_url(re.compile("^" + re.escape(f"{site}/accounts/login/?next=")))

        # Its own sign-out still works: the hint names a session that is over, so nothing is asked.
        page.goto(f"{app.url}/")
        page.get_by_role("button", name="Sign out").click()
        rp.wait_home()
        assert "You have signed out of this app and of Identity." in rp.text(), rp.app.log()
        snap(page, "app-after-logout-totp")

    assert watch.errors == []
    family = TokenFamily.objects.get(user=user)
    assert family.amr == ["pwd", "otp", "mfa"] and family.revoked_at is not None
    events = SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.SIGNIN_SUCCEEDED)
    assert [e.method for e in events] == ["pwd+otp"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def prepared_passkey(user) -> dict:
    """A passkey as a registration would have stored it, and the same credential for the virtual
    authenticator (CDP WebAuthn.addCredential): an EC P-256 key, discoverable, device-bound."""
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
    credential_id, handle = os.urandom(32), os.urandom(32)
    PasskeyOwner.objects.create(user=user, handle=handle)
    Passkey.objects.create(
        user=user,
        user_handle=handle,
        credential_id=credential_id,
        public_key=cose,
        sign_count=0,
        transports=["internal"],
        backup_eligible=False,
        name="Test laptop",
    )
    pkcs8 = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "credentialId": b64(credential_id),
        "isResidentCredential": True,
        "rpId": "localhost",
        "privateKey": b64(pkcs8),
        "userHandle": b64(handle),
        "signCount": 0,
    }


def test_passkey_sign_in_for_a_public_client(sync_playwright, site, make_user, start_app, empty_broker, snap):
    user = make_user(EMAIL, display_name=NAME)
    subject = str(user.subject)
    credential = prepared_passkey(user)
    app = start_app(Client.CLIENT_PUBLIC)
    watch = Watch(site)

    with sync_playwright() as p, app_browser(p, app, site, watch) as (context, rp):
        page = rp.page
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        authenticator = added["authenticatorId"]
        cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": credential})

        def presence(on: bool) -> None:
            cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator, "enabled": on})

        # The sign-in page asks for autofill options as it loads; presence stays off until the button.
        with page.expect_response(f"{site}{OPTIONS}"):
            rp.start_sign_in()
        button = page.get_by_role("button", name="Sign in with a passkey")
        button.wait_for(state="visible")
        snap(page, "identity-signin-passkey")
        presence(True)
        button.click()

        rp.at_authorization()
        presence(False)
        assert page.locator("h1").inner_text() == f"Allow {APP_NAME} to use your account?"
        page.get_by_role("button", name="Allow", exact=True).click()
        rp.wait_home()
        claims = rp.claims()
        rp.check_common_claims(claims, subject)
        assert "hwk" in claims["amr"] and "user" in claims["amr"], claims["amr"]
        assert claims["amr"] == ["hwk", "user", "mfa"]
        assert claims["acr"] == "phr"
        snap(page, "app-signed-in-passkey")

        # A public client refreshes with its client_id alone (and PKCE was its only proof at the start).
        page.get_by_role("button", name="Refresh tokens").click()
        rp.wait_home()
        assert "Tokens refreshed; the new ID token was validated." in rp.text(), rp.app.log()
        assert rp.claims()["amr"] == ["hwk", "user", "mfa"]
        page.get_by_role("button", name="Call userinfo").click()
        rp.wait_home()
        assert json.loads(page.locator("#userinfo").inner_text())["sub"] == subject
        snap(page, "app-refreshed-userinfo-passkey")
        # (Its RP-initiated logout: test_public_client_rp_initiated_logout_returns_to_its_loopback_uri.)
        [stored] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert stored["signCount"] == 1

    assert watch.errors == []
    family = TokenFamily.objects.get(user=user)
    assert family.amr == ["hwk", "user", "mfa"] and family.acr == "phr" and family.revoked_at is None
    assert Passkey.objects.get(user=user).last_used_at is not None
    events = SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.SIGNIN_SUCCEEDED)
    assert [e.method for e in events] == ["passkey"]


def test_public_client_rp_initiated_logout_returns_to_its_loopback_uri(
    sync_playwright, site, make_user, start_app, empty_broker, snap
):
    make_user(EMAIL, display_name=NAME)
    app = start_app(Client.CLIENT_PUBLIC)
    watch = Watch(site)

    with sync_playwright() as p, app_browser(p, app, site, watch) as (_context, rp):
        page = rp.page
        rp.start_sign_in()
        rp.sign_in_with_password()
        rp.at_authorization()
        page.get_by_role("button", name="Allow", exact=True).click()
        rp.wait_home()
        assert rp.claims()["amr"] == ["pwd"]

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        snap(page, "public-client-logout")
        rp.wait_home()
        assert "You have signed out of this app and of Identity." in rp.text()


@pytest.mark.parametrize("path", ["consent", "remembered-consent", "logout-confirmation"])
def test_form_posts_reach_the_app_under_the_sites_own_csp(
    sync_playwright, site, make_user, start_app, empty_broker, snap, path
):
    """Under the site's real Content-Security-Policy, every form post that ends at the app gets there."""
    user = make_user(EMAIL, display_name=NAME)
    app = start_app(Client.CLIENT_CONFIDENTIAL)
    if path == "remembered-consent":
        client = Client.objects.get(client_id=app.client_id)
        Consent.objects.create(user=user, client=client, scopes="email offline_access openid profile")
    watch = Watch(site)

    with sync_playwright() as p, app_browser(p, app, site, watch) as (_context, rp):
        page = rp.page
        if path == "logout-confirmation":
            page.goto(f"{site}/accounts/login/")
        else:
            rp.start_sign_in()
        rp.sign_in_with_password()
        if path == "consent":
            rp.at_authorization()
            page.get_by_role("button", name="Allow", exact=True).click()
        elif path == "logout-confirmation":
            page.wait_for_url(f"{site}/accounts/")
            query = urlencode({"client_id": app.client_id, "post_logout_redirect_uri": f"{app.url}/"})
            page.goto(f"{site}/oauth/logout/?{query}")
            assert page.locator("h1").inner_text() == "Sign out?"
            page.locator("main").get_by_role("button", name="Sign out").click()
        page.set_default_timeout(5_000)
        try:
            rp.wait_home()
        finally:
            snap(page, f"own-csp-{path}")
        assert not [error for error in watch.errors if "form-action" in error]


def test_consent_and_logout_pages_line_up_with_their_text(sync_playwright, site, make_user, start_app):
    make_user(EMAIL, display_name=NAME)
    app = start_app(Client.CLIENT_CONFIDENTIAL)
    watch = Watch(site)

    with sync_playwright() as p, app_browser(p, app, site, watch) as (_context, rp):
        page = rp.page
        rp.start_sign_in()
        rp.sign_in_with_password()
        rp.at_authorization()

        def left(locator) -> float:
            return locator.bounding_box()["x"]

        main = page.locator("main")
        consent = {
            "text": left(main.locator("p").first),
            "allow": left(main.get_by_role("button", name="Allow", exact=True)),
            "deny": left(main.get_by_role("button", name="Don't allow")),
        }
        not_you = main.get_by_role("button", name="Not you? Sign out")
        not_you_border = not_you.evaluate("b => getComputedStyle(b).borderTopStyle")
        query = urlencode({"client_id": app.client_id, "post_logout_redirect_uri": f"{app.url}/"})
        page.goto(f"{site}/oauth/logout/?{query}")
        assert page.locator("h1").inner_text() == "Sign out?"
        logout = {
            "text": left(main.locator("p").first),
            "sign out": left(main.get_by_role("button", name="Sign out")),
        }

    # The first choice starts where the text does; the second sits beside it, never indented before it.
    assert consent["allow"] == consent["text"] and consent["deny"] > consent["allow"], consent
    assert logout["sign out"] == logout["text"], logout
    assert not_you_border == "none", not_you_border  # styled like the site's other link-buttons
