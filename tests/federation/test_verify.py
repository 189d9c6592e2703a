"""An upstream address that is not verified becomes an account only through our own mail
(federation/verify.py). Each rule attacked against the real provider on loopback."""

from __future__ import annotations

import re

import pytest
from django.core import signing
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, SecurityEvent, User
from federation.models import Provider, UpstreamLink
from federation.verify import BROWSER_COOKIE, BROWSER_COOKIE_AGE, TOKEN_SALT
from identity.cookies import cookie_name

from .browsing import sign_in_through, signed_in_as

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
LINK = re.compile(r"http://testserver(/accounts/federation/verify/[^/\s\"]+/)")


@pytest.fixture
def unverified(provider, upstream):
    """The provider's person, grace@example.org, with `email_verified` absent."""
    upstream.person.email_verified = None
    return upstream


def come_back(browser: Client, next_url: str | None = "/accounts/security/"):
    """The round trip through the provider, then the callback's redirect: the page it ends on. The
    callback's own response sets the browser secret cookie; the redirect's URL carries no secret."""
    done = sign_in_through(browser, next_url=next_url)
    assert done.status_code == 302 and done["Location"] == "/accounts/federation/verify/sent/?provider=acme", done
    assert cookie_name(BROWSER_COOKIE) in done.cookies
    return browser.get(done["Location"])


def mailed_link(deliver_outbox, to: str = "grace@example.org") -> str:
    [mail] = [mail for mail in deliver_outbox() if mail.to == [to]]
    found = LINK.search(mail.body)
    assert found, mail.body
    return found[1]


def confirm(browser: Client, link: str):
    """Open the mailed link, see the confirmation page, press its button."""
    assert browser.get(link)["Location"] == "/accounts/federation/verify/confirm/"
    page = browser.get("/accounts/federation/verify/confirm/")
    assert page.status_code == 200 and "Confirm my address" in page.content.decode()
    return browser.post("/accounts/federation/verify/confirm/")


def elsewhere(browser: Client, link: str):
    """Open the mailed link in a browser that did not come back from the provider: its page has no
    button and says where to open the link; the button's POST anyway is refused."""
    assert browser.get(link)["Location"] == "/accounts/federation/verify/confirm/"
    page = browser.get("/accounts/federation/verify/confirm/")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-verify="elsewhere"' in html, html[:2000]
    assert "only in the browser where you signed in with Acme" in html and "Confirm my address" not in html
    assert 'action="/accounts/federation/verify/confirm/"' not in html
    return browser.post("/accounts/federation/verify/confirm/")


def test_the_callback_creates_nothing_and_says_check_your_inbox(unverified, deliver_outbox):
    browser = Client()
    page = come_back(browser)

    assert page.status_code == 200 and 'data-verify="sent"' in page.content.decode()
    assert "Acme did not confirm that your email address is verified" in page.content.decode()
    assert not User.objects.exists() and not UpstreamLink.objects.exists() and signed_in_as(browser) is None
    [mail] = deliver_outbox()
    assert mail.to == ["grace@example.org"] and LINK.search(mail.body)


def test_the_link_in_the_same_browser_creates_the_account_links_it_and_signs_in(unverified, deliver_outbox):
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)

    done = confirm(browser, link)

    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    grace = User.objects.get(email="grace@example.org")
    assert grace.email_verified and not grace.has_usable_password() and signed_in_as(browser) == grace
    link_row = UpstreamLink.objects.get(user=grace)
    assert (link_row.issuer, link_row.subject) == (unverified.issuer, "upstream-user-1")
    assert SecurityEvent.objects.filter(user=grace, kind=Event.UPSTREAM_LINKED, reason="acme:mail").exists()


def test_opening_the_link_changes_nothing_until_the_button(unverified, deliver_outbox):
    """Mail scanners fetch links: the GETs create nothing."""
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)
    browser.get(link)
    browser.get("/accounts/federation/verify/confirm/")
    assert not User.objects.exists() and not UpstreamLink.objects.exists()


def test_another_browser_creates_nothing_and_the_right_one_still_can(unverified, deliver_outbox):
    """Only the browser that came back from the provider may create the account: another browser's
    click creates and links nothing, and leaves the link unspent for the right one."""
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)
    other = Client()

    done = elsewhere(other, link)

    assert done.status_code == 403 and 'data-verify="elsewhere"' in done.content.decode()
    assert not User.objects.exists() and not UpstreamLink.objects.exists() and signed_in_as(other) is None
    assert confirm(browser, link)["Location"] == "/accounts/security/"
    assert signed_in_as(browser) == User.objects.get(email="grace@example.org")


def test_the_victim_s_click_in_their_own_browser_creates_nothing_and_links_nothing(unverified, deliver_outbox):
    """Pre-account-takeover: the attacker's account at the provider claims the victim's address
    (unverified) and the victim, who has no account here, gets the mail. Their click, in their own
    browser, makes no account at their address linked to the attacker's upstream identity; the
    attacker coming back through the provider finds no link (only another mail)."""
    attacker = Client()
    come_back(attacker)
    link = mailed_link(deliver_outbox)
    victim = Client()

    assert elsewhere(victim, link).status_code == 403

    assert not User.objects.exists() and not UpstreamLink.objects.exists()
    assert signed_in_as(victim) is None
    again = sign_in_through(attacker)
    assert again["Location"] == "/accounts/federation/verify/sent/?provider=acme" and signed_in_as(attacker) is None
    assert not UpstreamLink.objects.exists()


def test_the_attacker_s_browser_without_the_mailbox_gets_nothing(unverified, deliver_outbox):
    """The attacker's browser holds the secret cookie but not the link (it went to the victim's
    mailbox): the confirmation page and its POST have no token to act on (edited or re-signed tokens:
    test_an_edited_token_is_refused, test_a_token_signed_for_another_purpose_is_refused)."""
    attacker = Client()
    come_back(attacker)
    assert mailed_link(deliver_outbox)  # in the victim's mailbox only

    assert attacker.get("/accounts/federation/verify/confirm/").status_code == 400
    assert attacker.post("/accounts/federation/verify/confirm/").status_code == 400
    assert not User.objects.exists() and not UpstreamLink.objects.exists() and signed_in_as(attacker) is None


def test_the_browser_cookie_is_set_by_the_callback_only_and_never_rides_in_a_url(unverified, deliver_outbox):
    """The secret never appears in a URL (Referer, history, logs), and no page but the callback's
    answer sets the cookie, so a link cannot plant it in another browser (a login CSRF)."""
    browser = Client()
    done = sign_in_through(browser)
    value = done.cookies[cookie_name(BROWSER_COOKIE)]
    assert value["httponly"] and value.value not in done["Location"] and "b=" not in done["Location"]
    link = mailed_link(deliver_outbox)
    planted = Client()
    for query in [{"provider": "acme"}, {"provider": "acme", "b": value.value}, {"b": "forged:value"}]:
        assert planted.get("/accounts/federation/verify/sent/", query).status_code == 200
        assert cookie_name(BROWSER_COOKIE) not in planted.cookies
    assert elsewhere(planted, link).status_code == 403 and not User.objects.exists()


@pytest.mark.parametrize(
    "cookie", ["", "made-up", "forged:value", signing.dumps("secret", salt="federation.verify-browser")], ids=repr
)
def test_a_made_up_or_stolen_shape_of_browser_cookie_creates_nothing(unverified, deliver_outbox, cookie):
    come_back(Client())
    link = mailed_link(deliver_outbox)
    other = Client()
    other.cookies[cookie_name(BROWSER_COOKIE)] = cookie

    assert elsewhere(other, link).status_code == 403 and not User.objects.exists()


def test_the_browser_cookie_lasts_an_hour_whatever_the_browser_keeps(unverified, deliver_outbox, totp_clock):
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)
    totp_clock.advance(BROWSER_COOKIE_AGE + 5)  # the test client keeps cookies past their Max-Age

    assert elsewhere(browser, link).status_code == 403 and not User.objects.exists()


def test_the_link_works_once(unverified, deliver_outbox):
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)
    confirm(browser, link)
    User.objects.all().delete()  # even with the account gone (the link with it), the token is spent

    done = confirm(browser, link)

    assert done.status_code == 400 and 'data-verify="used"' in done.content.decode()
    assert not User.objects.exists()


def _edited(link: str, **changes: str) -> str:
    token = link.rstrip("/").rsplit("/", 1)[1]
    facts = signing.loads(token, salt=TOKEN_SALT)
    facts.update(changes)
    payload = signing.dumps(facts, salt=TOKEN_SALT, compress=True).split(":")[0]
    return f"/accounts/federation/verify/{payload}:{token.split(':', 1)[1]}/"


@pytest.mark.parametrize(
    "changes", [{"email": "victim@example.org"}, {"sub": "someone-else"}, {"provider": "beta"}], ids=str
)
def test_an_edited_token_is_refused(unverified, deliver_outbox, changes):
    """The attacker's own token, with the victim's address or another subject put in (keeping its
    signature): the signature no longer matches."""
    browser = Client()
    come_back(browser)
    forged = _edited(mailed_link(deliver_outbox), **changes)

    opened = browser.get(forged)

    assert opened.status_code == 400 and 'data-verify="invalid"' in opened.content.decode()
    assert browser.post("/accounts/federation/verify/confirm/").status_code == 400
    assert not User.objects.exists()


def test_a_token_signed_for_another_purpose_is_refused(unverified):
    """A token of the right shape signed under another salt (say, an email verification's)."""
    facts = {"provider": "acme", "iss": unverified.issuer, "sub": "x", "email": "victim@example.org"}
    facts |= {"next": "", "browser": "", "jti": "j"}
    token = signing.dumps(facts, salt="accounts.email-verification", compress=True)
    browser = Client()
    assert browser.get(f"/accounts/federation/verify/{token}/").status_code == 400
    assert browser.post("/accounts/federation/verify/confirm/").status_code == 400
    assert not User.objects.exists()


def test_the_link_expires(unverified, deliver_outbox, totp_clock):
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)
    totp_clock.advance(accounts_settings.EMAIL_VERIFICATION_TIMEOUT + 5)

    browser.get(link)
    assert browser.get("/accounts/federation/verify/confirm/").status_code == 400
    assert browser.post("/accounts/federation/verify/confirm/").status_code == 400
    assert not User.objects.exists()


def test_an_attacker_claiming_the_victim_s_address_gets_nothing(unverified, make_user, deliver_outbox):
    """The attacker holds an account at the provider that claims the victim's address, unverified.
    The attacker's page is the one anyone gets (it tells nobody an account exists), the link goes to
    the victim's mailbox, and the victim's click (in the victim's browser) links nothing to the
    victim's account; nor would a click in the attacker's browser (test_an_account_made_...)."""

    def without_csrf(response) -> str:  # the footer's language switcher carries a token per browser
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())

    nobody_page = without_csrf(come_back(Client()))
    deliver_outbox().clear()
    OutboxMail.objects.all().delete()
    victim = make_user("grace@example.org")
    attacker = Client()

    page = come_back(attacker)

    assert without_csrf(page) == nobody_page
    assert signed_in_as(attacker) is None and not UpstreamLink.objects.exists()
    link = mailed_link(deliver_outbox)  # only in the victim's mailbox
    # Even if the attacker got the victim to click (or the victim does, in good faith):
    assert elsewhere(Client(), link).status_code == 403
    assert not UpstreamLink.objects.exists() and User.objects.get() == victim


def test_an_account_made_at_the_address_meanwhile_is_not_linked(unverified, make_user, deliver_outbox):
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)
    owner = make_user("grace@example.org")  # signed up with a password before the click

    done = confirm(browser, link)

    assert done.status_code == 409 and 'data-verify="email_taken"' in done.content.decode()
    assert signed_in_as(browser) is None
    assert not UpstreamLink.objects.exists() and User.objects.get() == owner
    assert SecurityEvent.objects.filter(user=owner, kind=Event.SIGNIN_FAILED, reason="acme:email_taken").exists()


def test_the_subject_linked_meanwhile_is_not_linked_twice(unverified, deliver_outbox):
    first, second = Client(), Client()
    come_back(first)
    come_back(second)
    links = [found[1] for mail in deliver_outbox() if (found := LINK.search(mail.body))]
    confirm(first, links[0])

    done = confirm(second, links[1])

    assert done.status_code == 400 and signed_in_as(second) is None
    assert User.objects.count() == 1 and UpstreamLink.objects.count() == 1


def test_a_provider_disabled_before_the_click_creates_nothing(unverified, provider, deliver_outbox):
    browser = Client()
    come_back(browser)
    link = mailed_link(deliver_outbox)
    Provider.objects.filter(pk=provider.pk).update(enabled=False)

    assert confirm(browser, link).status_code == 403 and not User.objects.exists()


def test_mails_are_rate_limited_per_address_like_sign_up(unverified, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup-address": "2/h"}
    for _ in range(2):
        come_back(Client())

    refused = sign_in_through(Client())

    assert refused.status_code == 429 and OutboxMail.objects.count() == 2


def test_mails_are_rate_limited_per_client_address_like_sign_up(unverified, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup-ip": "2/h"}
    for n in range(2):
        unverified.person.email = f"person{n}@example.org"
        come_back(Client())
    unverified.person.email = "person9@example.org"

    assert sign_in_through(Client()).status_code == 429 and OutboxMail.objects.count() == 2


def test_a_provider_that_may_not_create_accounts_mails_nobody(unverified, provider):
    Provider.objects.filter(pk=provider.pk).update(may_create_accounts=False)
    browser = Client()
    done = sign_in_through(browser)
    assert done.status_code == 403 and 'data-refusal="unverified"' in done.content.decode()
    assert not OutboxMail.objects.exists()


def test_an_address_outside_the_allowed_domains_mails_nobody(unverified, provider):
    Provider.objects.filter(pk=provider.pk).update(allowed_email_domains="example.com")
    assert sign_in_through(Client()).status_code == 403 and not OutboxMail.objects.exists()


@pytest.mark.parametrize(
    ("language", "says"),
    [("en", "did not confirm that the address is theirs"), ("de", "hat nicht bestätigt, dass die Adresse")],
)
def test_the_mail_is_in_the_visitor_s_language(unverified, deliver_outbox, language, says):
    browser = Client(HTTP_ACCEPT_LANGUAGE=language)
    sign_in_through(browser)

    [mail] = deliver_outbox()

    html = mail.alternatives[0][0]
    assert says in mail.body and says in html and "Acme" in mail.body
    assert LINK.search(mail.body) and LINK.search(html)
