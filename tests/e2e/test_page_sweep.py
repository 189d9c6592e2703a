"""Every page a person sees, in English and German, on a desktop (1280x800) and a phone (390x844): no
horizontal scrolling (also at 320 px on the phone pass, and at 768 and 1440 px on the desktop one), no
serious or critical axe-core violation (WCAG 2.0-2.2 A and AA), and a numbered full-page screenshot in
test-artifacts/page-sweep/.

PAGES is the list: one line per page (its name, how to reach it, who is looking). "How" is a path (with
{placeholders} from the data made before the browser opens) or a function of the page and that data that
drives it there (a form posted empty, to see its errors). axe-core comes from npm (tests/e2e/axe,
`npm ci` in scripts/bootstrap dev) and is injected with `page.evaluate`, which the site's CSP does not
govern; the pages' own scripts still run under it.

No ORM inside the `with sync_playwright()` block (see test_security_page.py): everything is set up first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.test import Client
from django.urls import path
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.flows.signin_code import PENDING_CODE_SIGNIN
from accounts.models import SecurityEvent, User
from accounts.tokens import make_email_change_token, make_not_me_token, make_verification_token
from federation import verify
from federation.models import Provider, UpstreamLink
from identity import urls as site_urls
from identity.cookies import cookie_name
from identity.ratelimit import RateLimited
from mfa.models import Passkey
from tests.e2e.browser import CHROMIUM_ARGS, Screenshots, signed_in_context
from tests.oidc.relying_party import RelyingParty, approve, register
from tests.processes import unavailable
from tests.users import PASSWORD, add_totp, pass_mfa

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SERIOUS = {"serious", "critical"}
SIGNUP_SECRET = "a long enough passphrase 42"
FEDERATION_LINK = "/accounts/federation/verify/{federation_token}/"

ANONYMOUS, PERSON, PENDING_MFA, PENDING_CODE, STAFF = "anonymous", "person", "pending-mfa", "pending-code", "staff"
LINKED_ONLY = "linked-only"  # an account whose one way in is its link to a provider


def _suspicious(request):
    raise SuspiciousOperation("the page sweep's 400")


def _throttled(request):
    raise RateLimited(60, audit=None)


# The site, plus two pages that answer with the 400 and 429 error pages (the sweep's ROOT_URLCONF).
urlpatterns = [
    path("sweep/400/", _suspicious),
    path("sweep/429/", _throttled),
    *site_urls.urlpatterns,
]
handler400 = site_urls.handler400
handler404 = site_urls.handler404
handler500 = site_urls.handler500


def submit_empty(url: str) -> Callable:
    """Open the page and post its first form empty (browser validation off): the server's errors."""

    def go(page, site: str, data: dict):
        page.goto(site + url.format(**data))
        page.evaluate("() => document.querySelectorAll('form').forEach((form) => { form.noValidate = true; })")
        form = page.locator("main form:has(input:not([type=hidden]))").first
        form.locator("input:not([type=hidden])").evaluate_all("(inputs) => inputs.forEach((i) => { i.value = ''; })")
        with page.expect_navigation() as navigation:
            form.locator("[type=submit]").first.click()
        return navigation.value

    return go


def fill_and_submit(url: str, values: dict[str, str], button: str = "main form [type=submit]") -> Callable:
    def go(page, site: str, data: dict):
        page.goto(site + url.format(**data))
        for selector, value in values.items():
            page.locator(selector).fill(value.format(**data))
        with page.expect_navigation() as navigation:
            page.locator(button).first.click()
        return navigation.value

    return go


def post_form(url: str, fields: dict[str, str], start: str = "/accounts/login/") -> Callable:
    """A form posted from one of our pages (as a relying app's page or a stale tab would post it)."""

    def go(page, site: str, data: dict):
        page.goto(site + start)
        with page.expect_navigation() as navigation:
            page.evaluate(
                """([action, fields]) => {
                    const form = document.createElement("form");
                    form.method = "post"; form.action = action;
                    for (const [name, value] of Object.entries(fields)) {
                        const input = document.createElement("input");
                        input.type = "hidden"; input.name = name; input.value = value; form.append(input);
                    }
                    document.body.append(form); form.submit();
                }""",
                [site + url, fields],
            )
        return navigation.value

    return go


def staying(go: Callable, away: str) -> Callable:
    """A page that moves on by itself (a meta refresh) to `away`, a path of ours: held where it is."""

    def stay(page, site: str, data: dict):
        # A 204 answer to a navigation leaves the page where it is (an aborted one would show an error page).
        page.route(lambda url: urlsplit(url).path == away, lambda route: route.fulfill(status=204))
        return go(page, site, data)

    return stay


def opened(url: str) -> Callable:
    def go(page, site: str, data: dict):
        return page.goto(site + url.format(**data))

    return go


def with_cookie(name: str, value: str, go: Callable) -> Callable:
    """`go`, in a browser holding the private cookie `name` (its value from the data) that an earlier
    step of the site would have set."""

    def set_then_go(page, site: str, data: dict):
        # As browser.py sets the session's: Secure (`__Host-` names need it), for the host localhost.
        host = urlsplit(site).hostname
        cookie = {"name": cookie_name(name), "value": data[value], "domain": host, "path": "/", "secure": True}
        page.context.add_cookies([cookie])
        return go(page, site, data)

    return set_then_go


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@dataclass(frozen=True)
class Page:
    name: str
    how: str | Callable
    who: str = ANONYMOUS


# One line per page. Other pages go here as they are added.
PAGES = [
    # Signing up, in and out
    Page("signin", "/accounts/login/"),
    Page("signin-errors", submit_empty("/accounts/login/")),
    Page(
        "signin-realm",
        staying(fill_and_submit("/accounts/login/", {"#id_email": "dora@acme.example"}), "/accounts/federation/acme/"),
    ),
    Page("signin-for-an-app", "/accounts/login/?{signin_for_app}"),
    Page("account-deleted", "/accounts/deleted/"),
    Page("email-change-elsewhere", "/accounts/email/confirm/{email_change_token}/"),
    Page("signin-code", "/accounts/login/code/", PENDING_CODE),
    Page("signin-code-errors", submit_empty("/accounts/login/code/"), PENDING_CODE),
    Page("signup", "/accounts/signup/"),
    Page("signup-errors", submit_empty("/accounts/signup/")),
    Page("check-inbox", "/accounts/signup/check-inbox/"),
    Page(
        "check-inbox-with-address",
        fill_and_submit("/accounts/signup/", {"#id_email": "signed.up@example.com", "#id_password": SIGNUP_SECRET}),
    ),
    Page("verify-invalid", "/accounts/verify/not-a-token/"),
    Page("verify-invalid-form", "/accounts/verify/confirm/"),
    Page("verify-invalid-errors", submit_empty("/accounts/verify/confirm/")),
    # (after the two above: the link leaves its token in a cookie, and the confirmation page then shows it)
    Page("verify-confirm", "/accounts/verify/{verify_token}/"),
    Page("verify-already", "/accounts/verify/{verified_token}/"),
    Page("reset-request", "/accounts/password/reset/"),
    Page("reset-request-errors", submit_empty("/accounts/password/reset/")),
    Page("reset-realm", fill_and_submit("/accounts/password/reset/", {"#id_email": "dora@acme.example"})),
    Page("reset-sent", "/accounts/password/reset/sent/"),
    Page("reset-confirm", "/accounts/password/reset/{reset_uid}/{reset_token}/"),
    Page("reset-confirm-errors", submit_empty("/accounts/password/reset/{reset_uid}/{reset_token}/")),
    Page("reset-invalid", "/accounts/password/reset/{reset_uid}/not-a-token/"),
    Page("mfa-challenge", "/accounts/mfa/", PENDING_MFA),
    Page("mfa-challenge-errors", submit_empty("/accounts/mfa/"), PENDING_MFA),
    Page("mfa-recovery-code", "/accounts/mfa/?method=recovery", PENDING_MFA),
    Page("not-me-done", "/accounts/not-me/done/"),
    Page("not-me-invalid", "/accounts/not-me/not-a-token/"),
    Page("not-me-confirm", "/accounts/not-me/{not_me_token}/"),
    # Error pages
    Page("error-404", "/no-such-page/"),
    Page("error-403-form-expired", post_form("/accounts/password/reset/", {"email": "a@example.com"})),
    Page("error-400", "/sweep/400/"),
    Page("error-429", "/sweep/429/"),
    # Signed in
    Page("home", "/accounts/", PERSON),
    Page("security", "/accounts/security/", PERSON),
    Page("not-me-security", "/accounts/security/not-me/", PERSON),
    Page("password-change", "/accounts/password/change/", PERSON),
    Page("password-change-errors", submit_empty("/accounts/password/change/"), PERSON),
    Page("email-change", "/accounts/email/", PERSON),
    Page("email-change-errors", submit_empty("/accounts/email/"), PERSON),
    Page("email-change-sent", fill_and_submit("/accounts/email/", {"#id_email": "margaret.new@example.com"}), PERSON),
    Page("email-change-confirm", "/accounts/email/confirm/{email_change_token}/", PERSON),
    Page("email-change-taken", "/accounts/email/confirm/{email_taken_token}/", PERSON),
    Page("email-change-invalid", "/accounts/email/confirm/not-a-token/", PERSON),
    Page("reauthenticate", "/accounts/reauthenticate/?next=/accounts/security/", PERSON),
    Page("reauthenticate-errors", submit_empty("/accounts/reauthenticate/?next=/accounts/security/"), PERSON),
    Page("totp-add", "/accounts/security/totp/add/", PERSON),
    Page("totp-add-errors", submit_empty("/accounts/security/totp/add/"), PERSON),
    Page("name", "/accounts/name/", PERSON),
    Page("delete-account", "/accounts/delete/", PERSON),
    Page("delete-account-errors", submit_empty("/accounts/delete/"), PERSON),
    Page("passkey-remove-confirm", "/accounts/security/passkeys/{passkey_id}/remove/", PERSON),
    Page("totp-remove-confirm", "/accounts/security/totp/{totp_id}/remove/", PERSON),
    Page(
        "recovery-regenerate-confirm",
        fill_and_submit("/accounts/security/", {}, "form[action$='/recovery-codes/regenerate/'] [type=submit]"),
        PERSON,
    ),
    Page(
        "recovery-codes",
        fill_and_submit("/accounts/security/recovery-codes/regenerate/", {}, "main form[method=post] [type=submit]"),
        PERSON,
    ),
    Page("staff-forced-mfa-setup", "/accounts/security/totp/add/", STAFF),
    # OpenID Connect
    Page("oidc-consent", "{consent_url}", PERSON),
    Page("oidc-not-assigned", "{not_assigned_url}", PERSON),
    Page("oidc-error", "/oauth/authorize/?client_id=nobody&response_type=code&scope=openid", PERSON),
    Page("oidc-logout-confirm", "/oauth/logout/", PERSON),
    # Federation
    Page("federation-refused", "/accounts/federation/acme/callback/"),
    Page("federation-verify-sent", "/accounts/federation/verify/sent/?provider=acme"),
    Page("federation-verify-invalid", "/accounts/federation/verify/not-a-token/"),
    Page(
        "federation-unlink-refused",
        fill_and_submit("/accounts/security/", {}, "form[action$='/unlink/'] [type=submit]"),
        LINKED_ONLY,
    ),
    Page("federation-verify-elsewhere", "/accounts/federation/verify/{federation_elsewhere_token}/"),
    # (the browser that came back from the provider: from here on it holds that cookie)
    Page(
        "federation-verify-confirm",
        with_cookie(verify.BROWSER_COOKIE, "federation_browser_cookie", opened(FEDERATION_LINK)),
    ),
    Page("federation-verify-done", fill_and_submit(FEDERATION_LINK, {})),
    # SAML
    Page("saml-refused", "/saml/sso/"),
    Page("saml-signed-out", post_form("/saml/slo/", {"SAMLResponse": "x"})),
]

LANGUAGES = ["en", "de"]
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
# Widths checked for sideways scrolling besides the pass's own.
MORE_WIDTHS = {"desktop": (768, 1440), "phone": (320,)}

shots = None


def cookie(client: Client) -> str:
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def session_with(values: dict) -> str:
    """A fresh session holding `values`, as the site's own steps would have left it."""
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store.update(values)
    store.create()
    return store.session_key


@pytest.fixture
def people(localhost_site, make_user, settings, totp_clock) -> dict:
    """Everyone and everything the pages show, made before the browser opens."""
    settings.RATE_LIMITS = {name: "10000/h" for name in settings.RATE_LIMITS}
    settings.ROOT_URLCONF = __name__
    margaret = make_user("margaret.hamilton-with-a-rather-long-address@example.com")
    add_totp(margaret, name="Phone with a long name that wraps on a narrow screen")
    for name in ("MacBook Pro Touch ID (work laptop, second floor)", "iPhone"):
        Passkey.objects.create(
            user=margaret, user_handle=b"h" * 32, credential_id=name.encode(), public_key=b"k", name=name
        )
    acme = Provider.objects.create(
        slug="acme", name="Acme Corporation", issuer="https://acme.example", client_id="identity",
        bound_domains="acme.example",
    )  # fmt: skip

    browsers = {}
    for who in (PERSON, "other-device"):
        browser = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
        if who == PERSON:
            browser.post("/accounts/login/", {"email": margaret.email, "password": "wrong"})
        assert browser.post("/accounts/login/", {"email": margaret.email, "password": PASSWORD}).status_code == 302
        assert pass_mfa(browser, margaret).status_code == 302
        browsers[who] = browser
        totp_clock.advance(30)  # the next sign-in's code is a new one
    app, secret = register("Acme Wiki")
    rp = RelyingParty(app, secret)
    request = rp.authorization()
    returned = rp.callback(approve(browsers[PERSON], request["url"]))
    assert rp.redeem(returned["code"], request["verifier"]).status_code == 200
    consent_app, _ = register("Acme Helpdesk")
    restricted, _ = register("Payroll", assignment_required=True)

    pending = Client()
    assert pending.post("/accounts/login/", {"email": margaret.email, "password": PASSWORD})["Location"] == (
        "/accounts/mfa/"
    )
    staff = make_user("staff@example.com", is_staff=True)
    staff_browser = Client()
    staff_browser.post("/accounts/login/", {"email": staff.email, "password": PASSWORD})

    # Signed in with a password, then moved into acme's domain, where a password no longer counts as a
    # way in (federation/linking.py): its link to acme is then its last one.
    linked = make_user("linus@example.com")
    linked_browser = Client()
    assert linked_browser.post("/accounts/login/", {"email": linked.email, "password": PASSWORD}).status_code == 302
    User.objects.filter(pk=linked.pk).update(email="linus@acme.example")
    UpstreamLink.objects.create(user=linked, provider=acme, issuer="https://acme.example", subject="linus")

    newcomer = make_user("newcomer@example.com", email_verified=False)
    verified = make_user("verified@example.com", email_verified=False)
    verified_token = make_verification_token(verified)
    verifier = Client()
    verifier.get(f"/accounts/verify/{verified_token}/")  # the link, followed once: the address is verified
    assert verifier.post("/accounts/verify/confirm/").status_code == 302
    make_user("taken@example.com")
    # A provider's address-verification links (federation/verify.py): one for this browser, whose jti is
    # spent already (so confirming shows "used", signing nobody in), and one for another browser.
    browser_secret = "the sweep's browser"
    facts = {"provider": "acme", "iss": "https://acme.example", "sub": "s-1", "email": "grace@example.org", "next": ""}
    federation_token = signing.dumps(
        {**facts, "browser": verify._browser_hash(browser_secret), "jti": "sweep-1"}, salt=verify.TOKEN_SALT
    )
    cache.add("federation-verify-used:sweep-1", 1, 600)
    federation_elsewhere_token = signing.dumps(
        {**facts, "browser": verify._browser_hash("another browser's"), "jti": "sweep-2"}, salt=verify.TOKEN_SALT
    )
    margaret.refresh_from_db()  # signing in moved last_login on, which reset tokens depend on
    event = SecurityEvent.objects.filter(user=margaret, kind=SecurityEvent.Kind.SIGNIN_SUCCEEDED).first()
    code_session = {
        PENDING_CODE_SIGNIN: {"id": "sweep", "account": margaret.email, "started": int(time.time()), "next": ""}
    }
    return {
        "cookies": {
            PERSON: cookie(browsers[PERSON]),
            PENDING_MFA: cookie(pending),
            PENDING_CODE: session_with(code_session),
            STAFF: cookie(staff_browser),
            LINKED_ONLY: cookie(linked_browser),
        },
        "data": {
            "verify_token": make_verification_token(newcomer),
            "verified_token": verified_token,
            "federation_token": federation_token,
            "federation_elsewhere_token": federation_elsewhere_token,
            "federation_browser_cookie": signing.dumps(browser_secret, salt=verify._BROWSER_COOKIE_SALT),
            "reset_uid": urlsafe_base64_encode(force_bytes(margaret.pk)),
            "reset_token": default_token_generator.make_token(margaret),
            "not_me_token": make_not_me_token(event),
            "email_change_token": make_email_change_token(margaret, "margaret@new.example"),
            "email_taken_token": make_email_change_token(margaret, "taken@example.com"),
            "consent_url": RelyingParty(consent_app, None).authorization()["url"],
            "not_assigned_url": RelyingParty(restricted, None).authorization()["url"],
            "signin_for_app": urlencode({"next": _local(RelyingParty(consent_app, None).authorization()["url"])}),
            "passkey_id": Passkey.objects.filter(user=margaret).first().pk,  # type: ignore[union-attr]
            "totp_id": margaret.totpdevice_set.get().pk,
        },
    }


def overflow(page) -> str | None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    return None if widths[0] <= widths[1] else f"scrolls sideways: {widths[0]} px wide in {widths[1]} px"


def axe_violations(page, source: str) -> list[str]:
    page.evaluate(source)
    found = page.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
            .then((r) => ({passes: r.passes.length, violations: r.violations.map((v) => ({id: v.id,
                impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5)}))}))""",
        AXE_TAGS,
    )
    assert found["passes"], "axe-core checked nothing"
    return [
        f"axe {v['impact']} {v['id']}: {v['help']} at {', '.join(v['targets'])}"
        for v in found["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page(sync_playwright, people, language, viewport):
    from playwright.sync_api import Error as PlaywrightError  # installed: the sync_playwright fixture checked

    global shots
    if not AXE.exists():
        unavailable(f"{AXE} is missing: npm ci --prefix tests/e2e/axe (scripts/bootstrap dev does it)")
    if shots is None:
        shots = Screenshots("page-sweep")
    source = AXE.read_text()
    site = django_settings.SITE_URL
    width, height = VIEWPORTS[viewport]
    failures: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            contexts = {}
            for who in (ANONYMOUS, *people["cookies"]):
                if who == ANONYMOUS:
                    context = browser.new_context(viewport={"width": width, "height": height}, locale=language)
                else:
                    context = signed_in_context(
                        browser, people["cookies"][who], locale=language, width=width, height=height
                    )
                contexts[who] = context.new_page()
                contexts[who].set_default_timeout(15_000)
            for entry in PAGES:
                page = contexts[entry.who]
                where = f"{entry.name} ({language}, {width} px)"
                try:
                    if callable(entry.how):
                        response = entry.how(page, site, people["data"])
                    else:
                        response = page.goto(site + entry.how.format(**people["data"]))
                    page.wait_for_load_state("load")
                    if response is not None and response.status >= 500:
                        failures.append(f"{where}: answered {response.status}")
                    if (
                        callable(entry.how)
                        and response is not None
                        and response.status == 403
                        and "403" not in entry.name
                    ):
                        failures.append(f"{where}: the form was refused (403)")
                    if problem := overflow(page):
                        failures.append(f"{where}: {problem}")
                    for other in MORE_WIDTHS[viewport]:
                        page.set_viewport_size({"width": other, "height": height})
                        if problem := overflow(page):
                            failures.append(f"{entry.name} ({language}, {other} px): {problem}")
                    page.set_viewport_size({"width": width, "height": height})
                    failures += [f"{where}: {found}" for found in axe_violations(page, source)]
                    shots(page, f"{language}-{viewport}-{entry.name}")
                except PlaywrightError as error:
                    failures.append(f"{where}: {error.message.splitlines()[0]}")
                    shots(page, f"{language}-{viewport}-{entry.name}-failed")
        finally:
            browser.close()
    assert not failures, "\n".join(failures)
