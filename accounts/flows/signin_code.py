"""Past the password cap, the owner continues with a code mailed to the verified address.

NIST SP 800-63B limits consecutive failed password attempts on an account to 100 (`signin-account-cap`).
Anyone can spend those 100 on any address, so stopping password sign-in there would let a stranger lock
the owner out. Instead, past the cap the password alone no longer signs in: it also takes a one-time
code mailed to the account's verified address (a passkey works as before). The code adds the mailbox as
a factor; it replaces nothing:

- The password is still checked, under every other limit, and a wrong one still counts and is audited.
- Mail goes out only after the right password, to a verified address, at most `signin-code-mail` times:
  a guesser cannot mail-bomb the owner.
- The page says the same after a right and a wrong password, so the cap is no password oracle either.
- The code belongs to the session that gave the right password (its waiting sign-in): the mailbox alone,
  in another browser, gets nowhere. It is single-use, lives SIGNIN_CODE_TIMEOUT, is kept only as a keyed
  hash (accounts/tokens.py), and tries at it are limited per waiting sign-in.
- A right code is a successful sign-in: the cap starts over, and the person goes on to their second
  factor if they have one. It is not recorded as a factor (it raises no assurance).
"""

from __future__ import annotations

import re
import secrets
import time

from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from identity import ratelimit

from ..app_settings import app_settings
from ..audit import record_event
from ..models import OutboxMail, SecurityEvent, User, normalize_email
from ..outbox import queue_mail
from ..tokens import SIGNIN_CODE_DIGITS, take_signin_code
from .signin import begin_signin, forgive_password_failures, known_user, verify_password

PENDING_CODE_SIGNIN = "accounts.pending_code_signin"

Event = SecurityEvent.Kind


def begin_code_signin(request, email: str, password: str, next_url: str | None) -> None:
    """A password attempt on an account past its cap: check it, and leave the session waiting for a
    mailed code whatever the outcome. Raises RateLimited if another password limit refuses it.

    A right and a wrong password do the same work (one lookup, one audit row, one outbox row, one
    mail-budget check, one session write), so neither the page nor its timing tells a guesser which it
    was: a wrong one gets a decoy row that the worker discards unsent, as password-reset requests do.
    Given again in the same browser for the same address, any password keeps the waiting sign-in (its
    id, its spent code tries, its code): what decides is the address typed, never the password."""
    user = verify_password(request, email, password, past_cap=True)
    known = known_user(email)
    live = waiting_code_signin(request)
    mailed_already = user is not None and live is not None and live[1].pk == user.pk  # its code still works
    pending = _waiting_for(request, email, next_url)
    if user is None:
        reason = "inactive" if known is not None and not known.is_active else "bad_credentials"
        record_event(request, Event.SIGNIN_FAILED, known, method="pwd", reason=reason)
        pending.update(user=None, password="")  # the latest password decides
    else:
        record_event(request, Event.SIGNIN_THROTTLED, user, method="pwd", reason="capped_right_password")
        pending.update(user=user.pk, password=user.get_session_auth_hash())
    recipient = user if user is not None and user.email_verified and not mailed_already else None
    if not _mail_allowed(recipient, pending["id"]):
        recipient = None
    queue_mail(OutboxMail.Kind.SIGNIN_CODE, recipient, request=request, pending=pending["id"])
    request.session[PENDING_CODE_SIGNIN] = pending


def _waiting_for(request, email: str, next_url: str | None) -> dict:
    """This browser's live waiting sign-in for this address, or a fresh one (from the session only)."""
    account = normalize_email(email).lower()
    pending = request.session.get(PENDING_CODE_SIGNIN) if has_code_signin(request) else None
    if not pending or pending.get("account") != account:
        pending = {"id": secrets.token_urlsafe(16), "account": account, "started": int(time.time())}
    return {**pending, "next": next_url or ""}


def _mail_allowed(user: User | None, pending_id: str) -> bool:
    """Spend one of the account's `signin-code-mail`; with no one to mail, only look at a counter of
    the same kind (one round trip either way, nothing written)."""
    try:
        if user is None:
            ratelimit.check(("signin-code-mail", pending_id))
            return False
        ratelimit.hit(("signin-code-mail", str(user.pk)))
    except ratelimit.RateLimited:
        return False  # the owner has had their codes this hour; the page says the same either way
    return True


def has_code_signin(request) -> bool:
    """Whether this session is waiting for a mailed code (and it has not expired)."""
    pending = request.session.get(PENDING_CODE_SIGNIN)
    return bool(pending) and time.time() - pending["started"] <= app_settings.SIGNIN_CODE_TIMEOUT


def waiting_code_signin(request) -> tuple[dict, User] | None:
    """The waiting sign-in, if this session gave the right password, it is not stale, and the password
    has not changed since (a reset ends it)."""
    if not has_code_signin(request):
        return None
    pending = request.session[PENDING_CODE_SIGNIN]
    user = User.objects.filter(pk=pending["user"] or 0, is_active=True).first()  # the same query with no user
    if user is None or not constant_time_compare(pending.get("password", ""), user.get_session_auth_hash()):
        return None
    return pending, user


def normalize_signin_code(code: str) -> str | None:
    digits = re.sub(r"[\s-]", "", code or "")
    return digits if re.fullmatch(rf"\d{{{SIGNIN_CODE_DIGITS}}}", digits) else None


def complete_code_signin(request, code: str) -> str | None:
    """Check a mailed code for this session's waiting sign-in. Returns where to send the person, or
    None for a wrong code. Raises RateLimited after too many tries, counted per waiting sign-in
    (`mfa-pending`) whether or not a code exists for it. No account-wide counter: one that only a right
    password reaches tells it from a wrong one, and one that a wrong password reaches lets a stranger
    refuse the owner's code. Guessing stays bounded: a code exists only for one waiting sign-in, for
    SIGNIN_CODE_TIMEOUT, and at most `signin-code-mail` are minted an hour per account."""
    pending = request.session[PENDING_CODE_SIGNIN]
    counter = ("mfa-pending", pending["id"])
    try:
        ratelimit.hit(counter)
    except ratelimit.RateLimited as throttled:
        # No audit row: a refused try names no account (it is counted before the sign-in is looked up).
        raise throttled.saying(_("Too many attempts. Please wait %(wait)s before trying again."), audit=None) from None
    found = waiting_code_signin(request)
    digits = normalize_signin_code(code)
    taken = take_signin_code(pending["id"], found[1].pk if found else 0, digits or "")  # looked up either way
    if found is None or digits is None or not taken:
        record_event(request, Event.SIGNIN_FAILED, found[1] if found else None, method="pwd", reason="signin_code")
        return None
    user = found[1]
    del request.session[PENDING_CODE_SIGNIN]
    ratelimit.clear(counter)
    forgive_password_failures(request, user.email)  # a successful sign-in: the cap starts over
    return begin_signin(request, user, "pwd", pending["next"] or None)
