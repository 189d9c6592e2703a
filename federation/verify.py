"""An address the provider did not verify is verified by our own mail before it becomes an account.

When there is no link, the provider may create accounts, the domain is allowed and the ID token's
address is not verified (`email_verified` false or absent), the callback creates nothing: it mails that
address a link and says "Check your inbox". The link's token is signed (salted `django.core.signing`),
timed (EMAIL_VERIFICATION_TIMEOUT) and single-use (its id is spent in the cache), and carries the
provider, the (issuer, subject), the address, where to go after, and a hash of a random secret kept in
a cookie of the browser that came back from the provider. The token is minted when the mail is
rendered (the outbox row holds its facts, never the token, as accounts/outbox.py asks).

The account needs both: the mailbox (the link) and the browser that came back from the provider (the
secret). The secret is set as a cookie on the callback's own response (`keep_browser_secret`), so it
never rides in a URL and no other page can plant it in another browser. Without it, another browser
opening the link creates nothing: else an attacker whose upstream account claims a victim's address
(unverified) could mail the victim a link whose click makes an account at the victim's address,
linked to the attacker's upstream identity (a pre-account-takeover). That browser is told to open the
link where the person signed in with the provider, and the link stays unspent for it.

Opening the link shows a confirmation page (a GET changes nothing: mail scanners follow links); its
button creates the account with that address, verified, links it and signs this browser in. If an
account exists at the address by then, or the subject is linked already, nothing is created or linked:
the rule for verified addresses (flows.py) holds.

The callback gives the same answer, and mails, whether or not an account exists at the address: an
unverified address is anyone's claim, so the page must not tell its claimant who has an account. The
mails are counted by sign-up's limits (per address and per client address).
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlencode

from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from accounts.app_settings import app_settings as accounts_settings
from accounts.audit import record_event
from accounts.flows.signin import begin_signin, safe_next_url
from accounts.models import OutboxMail, SecurityEvent, User, normalize_email
from accounts.outbox import absolute_url, add_mail_kind, queue_mail
from identity import ratelimit
from identity.cookies import set_signed_cookie, signed_cookie
from identity.net import client_ip, rate_limit_subject

from . import presets, realm
from .models import Provider, UpstreamLink

MAIL_KIND = "federation_verify"
TOKEN_SALT = "federation.verify-address"
_BROWSER_SALT = "federation.verify-browser"
_BROWSER_COOKIE_SALT = "federation.verify-browser-cookie"
BROWSER_COOKIE = "federation-verify"
LINK_COOKIE = "federation-verify-token"
# How long the browser that came back from the provider may sign in by the mailed link: after that, an
# hour-old upstream sign-in is no proof of who sits at it, and the person signs in through it again.
BROWSER_COOKIE_AGE = 3600
METHOD = "fed"
_PENDING_SECRET = "federation_verify_secret"  # the request's attribute the callback's view reads


def begin_address_verification(request, provider: Provider, claims: dict, next_url: str) -> str | None:
    """The callback's answer to an unverified address with no link: mail it and return the "check your
    inbox" address. None when this provider could not create the account anyway (it is refused then)."""
    claimed = claims.get("email")
    if not isinstance(claimed, str) or not claimed:
        return None
    email = normalize_email(claimed)
    if (
        not provider.may_create_accounts
        or not provider.allows_domain(email)
        or not valid_address(email)
        or not realm.may_create_for(provider, email)
    ):
        return None
    ratelimit.hit(("signup-ip", rate_limit_subject(client_ip(request))), ("signup-address", email.lower()))
    secret = secrets.token_urlsafe(32)
    facts = {
        "provider": provider.slug,
        "iss": claims["iss"],
        "sub": claims["sub"],
        "email": email,
        "next": safe_next_url(next_url) or "",
        "browser": _browser_hash(secret),
        "jti": secrets.token_urlsafe(16),
    }
    with transaction.atomic():
        # The same mail whether or not an account has the address: the click finds out (complete_...).
        queue_mail(MAIL_KIND, None, to=email, **facts)
    setattr(request, _PENDING_SECRET, secret)  # set as a cookie on this very response (views.py)
    return reverse("federation:verify_sent") + "?" + urlencode({"provider": provider.slug})


def keep_browser_secret(request, response: HttpResponse) -> HttpResponse:
    """The callback's response, with the browser secret cookie when `begin_address_verification` made
    one: set here, on the response to the provider's redirect, and never carried in a URL."""
    secret = getattr(request, _PENDING_SECRET, "")
    if secret:
        # Signed and timed, so a browser keeping the cookie past its hour (or a made-up one) has none.
        set_signed_cookie(response, BROWSER_COOKIE, secret, salt=_BROWSER_COOKIE_SALT, max_age=BROWSER_COOKIE_AGE)
    return response


def browser_secret(request) -> str:
    """The secret of the browser that came back from the provider, from its cookie ("" if none or stale)."""
    secret = signed_cookie(request, BROWSER_COOKIE, salt=_BROWSER_COOKIE_SALT, max_age=BROWSER_COOKIE_AGE)
    return secret if isinstance(secret, str) else ""


def same_browser(facts: dict, secret: str) -> bool:
    """Whether this browser came back from the provider for this token (its cookie's secret)."""
    return bool(secret) and secrets.compare_digest(_browser_hash(secret), facts["browser"])


def valid_address(email: str) -> bool:
    """An address becomes an account's sign-in name only if sign-up would take it."""
    try:
        validate_email(email)
    except ValidationError:
        return False
    return len(email) <= User._meta.get_field("email").max_length  # type: ignore[operator]  # always set


def _browser_hash(secret: str) -> str:
    return hashlib.sha256(f"{_BROWSER_SALT}\x00{secret}".encode()).hexdigest()


def _verification_links(row: OutboxMail) -> dict:
    facts = {name: row.context[name] for name in ("provider", "iss", "sub", "email", "next", "browser", "jti")}
    token = signing.dumps(facts, salt=TOKEN_SALT, compress=True)
    provider = Provider.objects.filter(slug=facts["provider"]).first()
    return {
        "verify_url": absolute_url(reverse("federation:verify_link", args=[token])),
        "provider_name": provider.name if provider else facts["provider"],
        "hours": max(1, accounts_settings.EMAIL_VERIFICATION_TIMEOUT // 3600),
    }


def read_token(token: str) -> dict | None:
    """The facts of a genuine, unexpired token (used or not: `complete_address_verification` spends it)."""
    try:
        facts = signing.loads(token, salt=TOKEN_SALT, max_age=accounts_settings.EMAIL_VERIFICATION_TIMEOUT)
    except signing.BadSignature:
        return None
    names = ("provider", "iss", "sub", "email", "next", "browser", "jti")
    if not isinstance(facts, dict) or not all(isinstance(facts.get(name), str) for name in names):
        return None
    return facts


class Outcome:
    SIGNED_IN = "signed_in"  # the account was made and this browser signed in (the next page's URL)
    ELSEWHERE = "elsewhere"  # not the browser that came back from the provider: nothing done, unspent
    USED = "used"  # the link was used already, or the subject is linked: nothing done
    EMAIL_TAKEN = "email_taken"  # an account has the address: nothing created or linked
    NOT_ALLOWED = "not_allowed"  # the provider is gone, disabled, or may no longer create this account


def complete_address_verification(request, facts: dict) -> tuple[str, Provider | None, str]:
    """The confirming click on a genuine token: (outcome, provider, where to go for SIGNED_IN)."""
    provider = Provider.objects.filter(slug=facts["provider"]).first()
    if not same_browser(facts, browser_secret(request)):
        # Another browser (the victim's, if the upstream account is an attacker's): nothing is made, and
        # the link is not spent, so the right browser can still use it.
        return Outcome.ELSEWHERE, provider, ""
    # Spent first, whatever follows: a link works once.
    if not cache.add(f"federation-verify-used:{facts['jti']}", 1, accounts_settings.EMAIL_VERIFICATION_TIMEOUT + 60):
        return Outcome.USED, provider, ""
    email = facts["email"]
    if (
        provider is None
        or not provider.enabled
        or not provider.may_create_accounts
        or not presets.links_issuer(provider, facts["iss"])
        or not provider.allows_domain(email)
        or not realm.may_create_for(provider, email)
    ):
        return Outcome.NOT_ALLOWED, provider, ""
    if UpstreamLink.objects.filter(issuer=facts["iss"], subject=facts["sub"]).exists():
        return Outcome.USED, provider, ""
    existing = User.objects.filter(email__lower=email.lower()).first()
    if existing is not None:
        record_event(
            request, SecurityEvent.Kind.SIGNIN_FAILED, existing, method=METHOD, reason=f"{provider.slug}:email_taken"
        )
        return Outcome.EMAIL_TAKEN, provider, ""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, None, email_verified=True)
            UpstreamLink.objects.create(
                user=user, provider=provider, issuer=facts["iss"], subject=facts["sub"], email=email
            )
            record_event(
                request, SecurityEvent.Kind.UPSTREAM_LINKED, user, method=METHOD, reason=f"{provider.slug}:mail"
            )
            record_event(request, SecurityEvent.Kind.EMAIL_VERIFIED, user)
    except IntegrityError:
        return Outcome.EMAIL_TAKEN, provider, ""  # the address or subject was taken at the same moment
    UpstreamLink.objects.filter(user=user, provider=provider).update(last_used_at=timezone.now())
    return Outcome.SIGNED_IN, provider, begin_signin(request, user, METHOD, facts["next"])


def register() -> None:
    add_mail_kind(MAIL_KIND, _verification_links, to_address_only=True)
