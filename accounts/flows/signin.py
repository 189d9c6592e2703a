"""Signing in, confirming identity again, and signing out.

Sign-in is a small state machine. The first factor (a password) starts it with `begin_signin`. A person
with a second factor is not signed in yet: a pending sign-in (user, start, factors done, where to go
next) waits in the session under one key for MFA_PENDING_TIMEOUT, and `resume_signin` continues it once
mfa/base.py has accepted the second factor. Only `complete_signin` calls Django's `login()`, which
rotates the session key, and it records every factor with its time, so the OIDC provider can say how
and when the person authenticated. Every password check goes through `verify_password`, which owns the
password rate limits.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

from django.contrib.auth import authenticate, login, logout
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from identity import ratelimit
from identity.metrics import SIGNINS
from identity.net import client_ip, device_families, rate_limit_subject

from .. import stages
from ..app_settings import app_settings
from ..audit import metric_method, record_event, request_facts
from ..devices import recognise_device
from ..models import SecurityEvent, User, normalize_email
from ..sessions import end_user_sessions
from ..signals import access_revoked, sessions_ended
from ..signin_state import Factor, PendingSignin, PreviousSignin, SessionInfo, signin_state

Event = SecurityEvent.Kind


class CapReached(Exception):
    """The account has had 100 consecutive password failures (NIST SP 800-63B): the password alone no
    longer signs in; signin_code.py lets the owner continue with a code mailed to the address."""


class SignInRefused(Exception):
    def __init__(self, reason: str, user: User | None = None):
        super().__init__(reason)
        self.reason = reason
        self.user = user


def password_counters(request, email: str) -> tuple[ratelimit.Counter, ...]:
    """The counters a password attempt on this address spends: per IP, per account, per both, and the cap.

    Unknown addresses are counted exactly like real ones, so throttling reveals nothing.
    """
    account = normalize_email(email).lower()
    ip = rate_limit_subject(client_ip(request))
    return (
        ("signin-ip", ip),
        ("signin-account", account),
        ("signin-ip-account", ratelimit.account_subject(account, ip)),
        ("signin-account-cap", account),
    )


def password_change_counters(request, email: str) -> tuple[ratelimit.Counter, ...]:
    """The counters the password-change page's current password spends: per account and session, and a
    cap per account. Apart from sign-in's, so that wrong guesses by someone holding a session (perhaps a
    stolen cookie) never lock the address's sign-in, yet stay bounded."""
    account = normalize_email(email).lower()
    session = request.session.session_key or ""
    return (
        ("password-change-session", ratelimit.account_subject(account, session)),
        ("password-change-cap", account),
    )


def forgive_password_failures(request, email: str) -> None:
    """After a right password: the account's counters start over; the IP keeps its failures."""
    ip_counter, *account_counters = password_counters(request, email)
    ratelimit.forgive(ip_counter, *account_counters)


def lift_password_throttling(email: str) -> None:
    """Forget an account's password failures from every address (after a reset, or by an admin)."""
    account = normalize_email(email).lower()
    ratelimit.clear_all(
        "signin-account",
        "signin-ip-account",
        "signin-account-cap",
        "password-change-session",
        "password-change-cap",
        subject=account,
    )


def verify_password(
    request, email: str, password: str, *, purpose: str = "signin", past_cap: bool = False
) -> User | None:
    """Check a password under the rate limits. The attempt is counted before the hash is checked,
    so parallel guesses cannot slip past a limit; a right password gives the attempt back.

    At sign-in, an account past its cap raises CapReached instead of a wait of years. `past_cap` is
    the check signin_code.py makes then: counted by every limit but the full cap, a right password
    forgives nothing (the cap lasts until a code from the mailbox completes the sign-in), and the
    caller audits the outcome either way. The password-change page (`purpose` "password_change")
    counts on counters of its own (password_change_counters), and a right password clears only those.
    """
    changing = purpose == "password_change"
    counters = password_change_counters(request, email) if changing else password_counters(request, email)
    if past_cap:
        counters = tuple(counter for counter in counters if counter[0] != "signin-account-cap")
    try:
        ratelimit.hit(*counters)
    except ratelimit.RateLimited as throttled:
        if purpose == "signin" and not past_cap and password_capped(throttled):
            raise CapReached from None  # audited by the capped path, which checks the attempt itself
        if purpose == "signin":  # past the cap a password leads to the mailed code instead (signin_code.py)
            message = _("Too many attempts. To protect your account, please wait %(wait)s before trying again.")
        elif changing:
            message = _("Too many attempts. Try again in %(wait)s.")
        else:
            message = _("Too many attempts. Please wait %(wait)s.")
        audit = ratelimit.Audit(Event.SIGNIN_THROTTLED, known_user(email), "pwd", purpose)
        raise throttled.saying(message, audit=audit) from None
    user = authenticate(request, email=email, password=password)
    if user is None and past_cap:
        return None  # audited by the capped path, which does the same work for a right password
    if user is None:
        known = known_user(email)
        reason = "inactive" if known is not None and not known.is_active else "bad_credentials"
        if purpose != "signin":
            reason = purpose
        record_event(request, Event.SIGNIN_FAILED, known, method="pwd", reason=reason)
        return None
    if changing:
        ratelimit.clear(*counters)
    elif not past_cap:
        forgive_password_failures(request, email)
    return user


def password_capped(throttled: ratelimit.RateLimited) -> bool:
    """Whether the 100-failure cap refused the password rather than a 15-minute limit: waiting will not
    help (the cap lasts until a success or a reset), so a page must not say to wait."""
    return throttled.limits[:1] in {("signin-account-cap",), ("password-change-cap",)}


def known_user(email: str) -> User | None:
    """The account at this address, for the audit row of an attempt on it. Only the columns that row
    needs: the lookup runs whether or not the address has an account, and decoding a whole row only
    for real ones would be work a timing attacker could measure."""
    return User.objects.filter(email__lower=normalize_email(email).lower()).only("pk", "is_active").first()


def check_password_signin(request, email: str, password: str) -> User:
    """The password step. One refusal for unknown address, wrong password and inactive account."""
    user = verify_password(request, email, password)
    if user is None:
        raise SignInRefused("invalid")
    if not user.email_verified:
        # Only said to someone who knows the password, so it does not reveal that the account exists.
        record_event(request, Event.SIGNIN_FAILED, user, method="pwd", reason="unverified")
        raise SignInRefused("unverified", user)
    return user


def begin_signin(
    request, user: User, method: str, next_url: str | None, *, vouched: Iterable[str] = (), **facts
) -> str:
    """After the first factor: sign in, or wait for the next stage (a second factor). Returns where to
    send the person.

    `vouched`: second factors whoever proved the first one vouches for with it (a trusted identity
    provider's own second factor). They are recorded as factors of this sign-in, with the same facts,
    and so pass the second-factor stage; only kinds registered `signin_only` may be vouched for, so
    that such a factor never re-authenticates here (stages.FactorKind)."""
    vouched = tuple(vouched)
    if not set(vouched) <= stages.signin_only_factors():
        raise ValueError(f"only sign-in-only factor kinds can be vouched for: {vouched}")
    proved = [Factor.now(method, **facts), *(Factor.now(other, **facts) for other in vouched)]
    url = stages.pending_url(user, {factor.method for factor in proved})
    if url is None:
        return _complete_and_continue(request, user, proved, next_url or "")
    request.session.cycle_key()
    signin_state(request).pending = PendingSignin.begin(user.pk, user.get_session_auth_hash(), proved, next_url or "")
    SIGNINS.labels(metric_method(method), "mfa_pending").inc()
    return url


def _complete_and_continue(request, user: User, factors: list[Factor], next_url: str) -> str:
    complete_signin(request, user, factors)
    methods = {factor.method for factor in factors}
    return stages.after_signin_url(request, user, methods, next_url) or next_url or reverse("accounts:home")


def begin_step_up(request, next_url: str, *, reauthentication: bool = False) -> str:
    """A signed-in person must prove a second factor now: a relying app asked for more assurance, the
    admin site needs one, or (`reauthentication`) a sensitive change needs the account's highest level.
    It waits like a pending sign-in; `resume_signin` adds the factor to this session."""
    user = request.user
    url = stages.pending_url(user, set())
    if url is None:
        raise LookupError("no sign-in stage can ask this account for more")  # callers check holds_second_factor
    signin_state(request).pending = PendingSignin.begin(
        user.pk, user.get_session_auth_hash(), [], next_url, step_up=True, reauth=reauthentication
    )
    return url


def pending_signin(request) -> tuple[PendingSignin, User] | None:
    """The sign-in waiting for a second factor, if there is one and it has not expired."""
    state = signin_state(request)
    pending = state.pending
    if pending is None:
        return None
    if pending.step_up and pending.user != request.user.pk:
        return None
    if pending.expired(app_settings.MFA_PENDING_TIMEOUT):
        state.pending = None
        return None
    user = User.objects.filter(pk=pending.user, is_active=True).first()
    if user is None or not constant_time_compare(pending.password, user.get_session_auth_hash()):
        return None
    return pending, user


def resume_signin(request, method: str, **facts) -> str:
    """A factor was accepted: finish the pending sign-in (or step-up). Returns where to send the person."""
    state = signin_state(request)
    pending = cast(PendingSignin, state.pending)  # complete_factor was handed it (pending_signin)
    state.pending = None
    if pending.step_up:
        add_factor_to_session(request, method, **facts)
        return pending.next or reverse("accounts:home")
    user = User.objects.get(pk=pending.user)
    return _complete_and_continue(request, user, [*pending.factors, Factor.now(method, **facts)], pending.next)


def add_factor_to_session(request, method: str, **facts) -> None:
    """A signed-in person proved a factor again (re-authentication, step-up); never for enrolling it,
    which proves nothing about who holds the session. It is recorded as `later`, next to (never instead
    of) what the sign-in proved: one later entry per factor, with its latest time, so nothing is pushed
    out and the OIDC provider can tell the two apart. Like a sign-in, it rotates the session key (ASVS
    V7: a new session token on re-authentication), so a cookie copied before no longer works."""
    signin_state(request).add_later(Factor.now(method, **facts))
    request.session.cycle_key()


def complete_signin(request, user: User, factors: list[Factor]) -> None:
    login(request, user, backend="accounts.backends.EmailBackend")
    facts = request_facts(request)
    state = signin_state(request)
    state.record_signin(factors, SessionInfo(ip=facts["ip"], ua=facts["user_agent"]))
    previous = SecurityEvent.objects.filter(user=user, kind=Event.SIGNIN_SUCCEEDED).order_by("-at").first()
    if previous is not None:
        browser, system = device_families(previous.user_agent)
        state.previous_signin = PreviousSignin(
            at=int(previous.at.timestamp()), browser=browser, system=system, via=previous.via
        )
    # A sign-in through an identity provider keeps its name (as it is now) in the event's reason.
    via = next((factor.via for factor in factors if factor.via), "")[: SecurityEvent.VIA_MAX_LENGTH]
    method = "+".join(factor.method for factor in factors)
    record_event(request, Event.SIGNIN_SUCCEEDED, user, method=method, reason=via)
    recognise_device(request, user, via=via)


def begin_reauthentication(request, next_url: str, *, second_factor: bool = False) -> str | None:
    """Re-authentication at the account's highest level. An account with a second factor proves one
    (passkey, authenticator app or recovery code) at the second-factor challenge, as a step-up that
    comes back to `next_url`: returns that challenge's address. None: the re-authentication page asks,
    because the account has no second factor (the password confirms it's you, `confirm_identity`) or
    holds one that confirms it on its own there (a user-verified passkey, `renew_reauthentication`;
    its password then leads on to the challenge, `after_password_reauthentication`), unless the person
    asked for the challenge (`second_factor`: the passkey is not at hand, a recovery code is)."""
    user = request.user
    if not stages.holds_second_factor(user):
        return None
    if stages.holds_factor_that_signs_in(user) and not second_factor:
        return None
    return begin_step_up(request, next_url, reauthentication=True)


def after_password_reauthentication(request, next_url: str) -> str:
    """Where a right password at the re-authentication page leads: to `next_url`, or, for an account
    whose password alone is not its highest level, on to its second factor (a step-up back to it)."""
    if recently_authenticated(request):
        return next_url
    return begin_step_up(request, next_url, reauthentication=True)


def confirm_identity(request, password: str) -> bool:
    """Re-authentication with the password again, under the same limits: whether it was right. It
    re-authenticates only an account without a second factor; one holding a passkey goes on to its
    second factor (`after_password_reauthentication`), and nothing is recorded for the password alone."""
    user = verify_password(request, request.user.email, password, purpose="reauth")
    if user is None or user.pk != request.user.pk:
        return False
    if not stages.holds_second_factor(user):
        renew_reauthentication(request, "pwd")
    return True


def spend_reauthentication_attempt(request, method: str) -> None:
    """Count an attempt to confirm it's you with another factor than the password (a passkey) on the
    password's counters, before it is checked: one limit for every way this page is tried, so a stolen
    session gains no extra guesses by switching factors. Not the 100-failure cap: a passkey cannot be
    guessed, and a password thief running it up must not lock the owner out of their passkey too.
    Raises RateLimited, audited for this account."""
    counters = tuple(c for c in password_counters(request, request.user.email) if c[0] != "signin-account-cap")
    try:
        ratelimit.hit(*counters)
    except ratelimit.RateLimited as throttled:
        audit = ratelimit.Audit(Event.SIGNIN_THROTTLED, request.user, method, "reauth")
        raise throttled.saying(_("Too many attempts. Please wait %(wait)s."), audit=audit) from None


def refuse_reauthentication(request, method: str) -> None:
    """A refused re-authentication with another factor than the password: audited like a wrong one."""
    record_event(request, Event.SIGNIN_FAILED, request.user, method=method, reason="reauth")


def renew_reauthentication(request, method: str, **facts) -> None:
    """The one ending of every re-authentication at the re-authentication page (the password, a
    passkey): the factor joins the session as a later one (rotating its key), the attempts the
    account's counters hold are given back as after a right password, and it is audited."""
    if method != "pwd":  # verify_password gave them back already
        forgive_password_failures(request, request.user.email)
    add_factor_to_session(request, method, **facts)
    record_event(request, Event.REAUTHENTICATED, request.user, method=method)


def reproves_signin(request, password: str) -> bool:
    """Whether the person at this session proves again, now, what the session signed in with: its
    password (checked here, under the password limits), or, for a session that signed in without one, a
    later re-authentication within REAUTHENTICATION_TIMEOUT with a factor of that kind. Deliberately not
    the account's highest level: that may be an intruder's passkey the owner does not hold."""
    state = signin_state(request)
    methods = state.signin_methods()
    if "pwd" in methods:
        if not password:
            return False
        user = verify_password(request, request.user.email, password, purpose="reauth")
        return user is not None and user.pk == request.user.pk
    now = time.time()
    return any(
        factor.later and factor.method in methods and factor.within(app_settings.REAUTHENTICATION_TIMEOUT, now)
        for factor in state.factors
    )


def recently_authenticated(request) -> bool:
    """Whether this session proved the account's highest level within REAUTHENTICATION_TIMEOUT: a
    second factor if the account holds one, else the password. A recent password alone is not enough
    for an account with a second factor: with a stolen session and the password, an intruder could
    otherwise add their own factor, remove the owner's or move the account to their address.
    (Enrolling a factor proves nothing, so it is never among the recent ones.)"""
    recent = signin_state(request).recent_methods(app_settings.REAUTHENTICATION_TIMEOUT)
    return bool(recent) and second_factor_requirement_met(request, recent)


def second_factor_requirement_met(request, recent: set[str] | None = None) -> bool:
    """An account with a second factor proved one within REAUTHENTICATION_TIMEOUT; one without needs
    nothing more here (its password is proved by the caller: a re-authentication or a form field)."""
    if recent is None:
        recent = signin_state(request).recent_methods(app_settings.REAUTHENTICATION_TIMEOUT)
    # Not a second factor a provider vouched for at the sign-in: the account does not hold it, and a
    # provider (or whoever controls the person's account there) must not add or remove factors here.
    return bool(recent & stages.reauthentication_factors()) or not stages.holds_second_factor(request.user)


def sign_out(request) -> None:
    """Log out and delete the session from Redis."""
    user_id, ref = request.user.pk, signin_state(request).ref
    if request.user.is_authenticated:
        record_event(request, Event.SIGNED_OUT, request.user)
    logout(request)
    if user_id is not None and ref:
        sessions_ended.send(sender=__name__, user_id=user_id, refs=[ref])


def end_all_access(user: User, *, keep_request=None) -> None:
    """End every session of the person and revoke what apps were granted on their behalf. Apps are
    told first, so they hear "this person" (sub) once rather than of each session (sid).

    `keep_request`: the person's own request whose session (and its apps' tokens) stays, as after
    changing one's own password."""
    session = keep_request.session if keep_request is not None and keep_request.user.pk == user.pk else None
    ref = signin_state(keep_request).ref if session is not None else ""
    keep_refs = [ref] if ref else []
    access_revoked.send(sender=__name__, user=user, keep_refs=keep_refs)
    end_user_sessions(user.pk, keep_session_key=session.session_key if session is not None else None)


def safe_next_url(url: str | None) -> str | None:
    """A `next` target is honoured only when it is a path on this site."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return None
    if not url_has_allowed_host_and_scheme(url, allowed_hosts=set(), require_https=False):
        return None
    return url
