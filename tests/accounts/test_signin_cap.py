"""Past the 100-failure cap, the owner continues with a mailed code (issue 13, section 7).

The attacker here spends the cap on the owner's address from many addresses. The owner, with the right
password, must still get in (with a code mailed to the verified address, or a passkey); the attacker,
with a wrong password or with only the mailbox, must get nothing new.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, SecurityEvent
from identity import ratelimit
from tests.users import PASSWORD, add_totp

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
WRONG = "not the right password at all"
SIGNIN, CODE_PAGE = "/accounts/login/", "/accounts/login/code/"
HIGH = "1000/1000d"
CAP = ("signin-account-cap", "ada@example.com")
WRONG_CODE_MESSAGE = "That code is not right, or it has expired."
CAPPED_MESSAGE = "too many failed attempts to sign in to this account"


@pytest.fixture
def other_limits_high(settings):
    """Only the cap in the way: the attacker's 100 failures are not slowed by the 15-minute limits."""
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "signin-ip": HIGH,
        "signin-account": HIGH,
        "signin-ip-account": HIGH,
    }


@pytest.fixture
def capped_account(user, other_limits_high):
    """Ada's address has had 100 consecutive failures (counted directly; the first test makes them
    through the sign-in page)."""
    for _ in range(100):
        ratelimit.hit(CAP)
    return user


@pytest.fixture
def capped_by_an_attacker(user, other_limits_high):
    """An attacker has failed 100 passwords on Ada's address through the sign-in page, from 100 addresses."""
    for i in range(100):
        response = Client().post(SIGNIN, {"email": user.email, "password": f"guess {i}"}, REMOTE_ADDR=f"10.1.0.{i}")
        assert response.status_code == 400, i
    assert ratelimit.used(CAP) == 100
    return user


def password_step(c: Client, email: str, password: str, **extra):
    return c.post(SIGNIN, {"email": email, "password": password, **extra})


def mailed_code(deliver_outbox) -> str:
    [mail] = [m for m in deliver_outbox() if m.subject.endswith("Your sign-in code")]
    return re.search(r"^(\d{8})$", mail.body, flags=re.M).group(1)


def page_text(response) -> str:
    """The page without its per-response CSRF token, to compare two pages."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def is_signed_in(c: Client) -> bool:
    return c.get("/accounts/").status_code == 200


def test_the_owner_with_the_right_password_continues_with_a_mailed_code(capped_by_an_attacker, deliver_outbox):
    capped_account = capped_by_an_attacker
    owner = Client()
    response = password_step(owner, capped_account.email, PASSWORD)
    assert response.status_code == 302 and response["Location"] == CODE_PAGE
    page = owner.get(CODE_PAGE)
    assert page.status_code == 200 and CAPPED_MESSAGE in page.content.decode()
    assert "we have emailed a sign-in code" in page.content.decode()
    assert not is_signed_in(owner)

    code = mailed_code(deliver_outbox)
    [row] = OutboxMail.objects.filter(kind=OutboxMail.Kind.SIGNIN_CODE)
    assert row.to == capped_account.email and code not in json.dumps(row.context), "the outbox holds no secret"

    done = owner.post(CODE_PAGE, {"code": f"{code[:4]} {code[4:]}"})
    assert done.status_code == 302 and done["Location"] == "/accounts/"
    assert is_signed_in(owner)
    assert ratelimit.used(CAP) == 0, "a successful sign-in starts the count over"


def test_the_attacker_with_a_wrong_password_gets_nothing_new(capped_account, deliver_outbox, mailoutbox):
    attacker, owner = Client(), Client()
    failures_before = SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED).count()
    account_counter = ("signin-account", "ada@example.com")
    used_before = ratelimit.used(account_counter)

    wrong = password_step(attacker, capped_account.email, WRONG)
    right = password_step(owner, capped_account.email, PASSWORD)
    assert wrong.status_code == right.status_code == 302 and wrong["Location"] == right["Location"] == CODE_PAGE
    assert page_text(attacker.get(CODE_PAGE)) == page_text(owner.get(CODE_PAGE)), "no password oracle past the cap"

    assert OutboxMail.objects.filter(kind=OutboxMail.Kind.SIGNIN_CODE, user__isnull=False).count() == 1
    assert len(deliver_outbox()) == 1, "mail only for the right password (a wrong one gets a decoy row, never sent)"
    assert SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED).count() == failures_before + 1, "it still counts"
    assert ratelimit.used(account_counter) == used_before + 2
    for guess in ("00000000", "12345678", mailed_code(lambda: mailoutbox)):
        response = attacker.post(CODE_PAGE, {"code": guess})
        assert response.status_code == 400 and WRONG_CODE_MESSAGE in response.content.decode()
    assert not is_signed_in(attacker)


def test_the_mailbox_alone_cannot_use_the_code(capped_account, deliver_outbox):
    """Someone reading the owner's mail, without the password, gets nowhere with the code: it belongs
    to the browser that gave the right password."""
    owner, mailbox_reader = Client(), Client()
    password_step(owner, capped_account.email, PASSWORD)
    code = mailed_code(deliver_outbox)
    password_step(mailbox_reader, capped_account.email, WRONG)
    assert mailbox_reader.post(CODE_PAGE, {"code": code}).status_code == 400
    assert not is_signed_in(mailbox_reader)
    assert owner.post(CODE_PAGE, {"code": code})["Location"] == "/accounts/"


def test_a_code_works_once(capped_account, deliver_outbox, mailoutbox):
    owner = Client()
    password_step(owner, capped_account.email, PASSWORD)
    code = mailed_code(deliver_outbox)
    assert owner.post(CODE_PAGE, {"code": code})["Location"] == "/accounts/"
    owner.post("/accounts/logout/")
    for _ in range(100):  # the attacker caps the account again
        ratelimit.hit(CAP)
    mailoutbox.clear()
    password_step(owner, capped_account.email, PASSWORD)
    assert owner.post(CODE_PAGE, {"code": code}).status_code == 400, "the old code is spent"
    assert owner.post(CODE_PAGE, {"code": mailed_code(deliver_outbox)})["Location"] == "/accounts/"


def test_a_code_expires(capped_account, deliver_outbox, settings, monkeypatch):
    owner = Client()
    password_step(owner, capped_account.email, PASSWORD)
    code = mailed_code(deliver_outbox)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + accounts_settings.SIGNIN_CODE_TIMEOUT + 1)
    late = owner.post(CODE_PAGE, {"code": code})
    assert late.status_code == 302 and late["Location"] == SIGNIN
    assert "took too long" in owner.get(SIGNIN).content.decode()
    assert not is_signed_in(owner)


def test_wrong_codes_are_rate_limited(capped_account, deliver_outbox):
    owner = Client()
    password_step(owner, capped_account.email, PASSWORD)
    code = mailed_code(deliver_outbox)
    for guess in range(5):
        assert owner.post(CODE_PAGE, {"code": f"{guess:08d}"}).status_code == 400
    throttled = owner.post(CODE_PAGE, {"code": code})
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert not is_signed_in(owner)


def test_the_owner_is_not_mail_bombed(capped_account, deliver_outbox):
    """Even someone who knows the password gets at most `signin-code-mail` codes mailed an hour."""
    for _ in range(6):
        assert password_step(Client(), capped_account.email, PASSWORD)["Location"] == CODE_PAGE
    for _ in range(20):
        password_step(Client(), capped_account.email, WRONG)
    assert len(deliver_outbox()) == 3


def test_the_same_browser_entering_the_password_again_keeps_its_code(capped_account, deliver_outbox):
    owner = Client()
    password_step(owner, capped_account.email, PASSWORD)
    password_step(owner, capped_account.email, PASSWORD)
    code = mailed_code(deliver_outbox)  # one mail, and its code still works
    assert owner.post(CODE_PAGE, {"code": code})["Location"] == "/accounts/"


def test_a_second_factor_is_still_asked_for_after_the_code(capped_account, deliver_outbox):
    add_totp(capped_account)
    owner = Client()
    password_step(owner, capped_account.email, PASSWORD)
    done = owner.post(CODE_PAGE, {"code": mailed_code(deliver_outbox)})
    assert done["Location"] == "/accounts/mfa/", "the mailed code replaces no factor"
    assert not is_signed_in(owner)


def test_an_unverified_or_unknown_address_gets_no_mail(make_user, other_limits_high, deliver_outbox):
    make_user("new@example.com", email_verified=False)
    for email in ("new@example.com", "nobody@example.com"):
        for _ in range(100):
            ratelimit.hit(("signin-account-cap", email))
        assert password_step(Client(), email, PASSWORD)["Location"] == CODE_PAGE
    assert deliver_outbox() == []


def test_a_passkey_still_signs_in_past_the_cap(capped_account):
    from tests.mfa.softauthn import SoftAuthenticator
    from tests.mfa.test_passkeys import add_passkey, passkey_signin

    authenticator = SoftAuthenticator()
    add_passkey(capped_account, authenticator)
    c = Client()
    assert passkey_signin(c, authenticator).json() == {"redirect": "/accounts/"}
    assert is_signed_in(c)


def test_the_code_page_and_mail_speak_german(capped_account, deliver_outbox):
    owner = Client(HTTP_ACCEPT_LANGUAGE="de")
    password_step(owner, capped_account.email, PASSWORD)
    page = owner.get(CODE_PAGE).content.decode()
    assert "Anmeldecode" in page
    [mail] = deliver_outbox()
    assert "Anmeldecode" in mail.subject and re.search(r"^\d{8}$", mail.body, flags=re.M)


def test_without_a_pending_code_sign_in_the_code_page_sends_you_to_sign_in(client):
    response = client.post(CODE_PAGE, {"code": "12345678"})
    assert response.status_code == 302 and response["Location"] == SIGNIN


def test_a_right_and_a_wrong_password_past_the_cap_do_the_same_database_work(capped_account):
    """No timing oracle either: the same statements for the owner's password and a guess."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(password: str) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert password_step(Client(), capped_account.email, password)["Location"] == CODE_PAGE
        return [re.sub(r"'[^']*'|\b\d+\b|NULL", "?", query["sql"]) for query in queries.captured_queries]

    assert statements(PASSWORD) == statements(WRONG)


def test_the_code_sign_in_goes_where_the_sign_in_was_going(capped_account, deliver_outbox):
    owner = Client()
    password_step(owner, capped_account.email, PASSWORD, next="/accounts/security/")
    done = owner.post(CODE_PAGE, {"code": mailed_code(deliver_outbox)})
    assert done["Location"] == "/accounts/security/"


def test_a_code_mail_delayed_past_its_lifetime_is_never_sent(capped_account, mailoutbox, settings):
    """After a broker or SMTP outage the sweep may send old rows: a dead sign-in's code is dropped."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tasks import send_outbox_mail

    password_step(Client(), capped_account.email, PASSWORD)
    row = OutboxMail.objects.get(kind=OutboxMail.Kind.SIGNIN_CODE, user=capped_account)
    OutboxMail.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(seconds=accounts_settings.SIGNIN_CODE_TIMEOUT + 1)
    )
    send_outbox_mail(row.pk)
    row.refresh_from_db()
    assert row.sent_at is not None and mailoutbox == []


CAPPED_SIGNED_IN = "You are still signed in."


def capped_and_signed_in(account, **extra) -> Client:
    """The owner, signed in (before the attack) to an account that is now past its cap."""
    c = Client(**extra)
    assert password_step(c, account.email, PASSWORD).status_code == 302
    for _ in range(100):
        ratelimit.hit(("signin-account-cap", account.email))
    return c


def test_past_the_cap_re_authentication_says_to_reset_not_to_wait_years(user, other_limits_high):
    response = capped_and_signed_in(user).post(
        "/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/security/"}
    )
    assert response.status_code == 429 and "Retry-After" not in response
    body = response.content.decode()
    assert CAPPED_SIGNED_IN in body and 'href="/accounts/password/reset/"' in body
    assert "hours" not in body and "wait" not in body.lower()


def test_past_the_cap_password_change_says_to_reset_not_to_wait_years(user, other_limits_high):
    """The password-change page has a cap of its own (issue 19), said the same way."""
    new = "a brand new long passphrase"
    c = Client()
    assert password_step(c, user.email, PASSWORD).status_code == 302
    for _ in range(100):
        ratelimit.hit(("password-change-cap", user.email))
    response = c.post(
        "/accounts/password/change/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 429 and "Retry-After" not in response
    body = response.content.decode()
    assert CAPPED_SIGNED_IN in body and 'href="/accounts/password/reset/"' in body
    assert "hours" not in body and "wait" not in body.lower()
    user.refresh_from_db()
    assert user.check_password(PASSWORD), "nothing changed"


def test_past_the_cap_this_wasnt_me_says_to_reset_not_to_wait_years(user, other_limits_high):
    """An attacker who capped the password must not leave the owner a page saying to wait a century."""
    response = capped_and_signed_in(user).post("/accounts/security/not-me/", {"password": PASSWORD})
    assert response.status_code == 429 and "Retry-After" not in response
    body = response.content.decode()
    assert CAPPED_SIGNED_IN in body and 'href="/accounts/password/reset/"' in body
    assert "hours" not in body and "wait" not in body.lower()
    user.refresh_from_db()
    assert user.check_password(PASSWORD), "nothing was undone"


def test_the_capped_re_authentication_page_speaks_german(user, other_limits_high):
    owner = capped_and_signed_in(user, HTTP_ACCEPT_LANGUAGE="de")
    body = owner.post("/accounts/reauthenticate/", {"password": PASSWORD}).content.decode()
    assert "Sie sind weiterhin angemeldet." in body and CAPPED_SIGNED_IN not in body


def test_a_fifteen_minute_limit_at_re_authentication_still_says_how_long_to_wait(user, settings):
    """Guard: only the cap changes its words; the short limits still name their wait."""
    c = Client()
    assert password_step(c, user.email, PASSWORD).status_code == 302
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signin-account": "1/15m"}
    assert c.post("/accounts/reauthenticate/", {"password": WRONG}).status_code == 400
    response = c.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 429 and "Please wait about 15 minutes" in response.content.decode()


# Review R5: past the cap, a right password must look like a wrong one, also when it is given again.
WRONG_CODE = "00000000"


def probe(candidate: str, ip: str) -> int:
    """What a guesser sees for one candidate password, at the cost of two password attempts: give it,
    spend the waiting sign-in's five code tries, give it again, try one more code."""
    c = Client(raise_request_exception=False, REMOTE_ADDR=ip)
    first = c.post(SIGNIN, {"email": "ada@example.com", "password": candidate})
    assert first.status_code == 302 and first["Location"] == CODE_PAGE, first
    for _ in range(5):
        assert c.post(CODE_PAGE, {"code": WRONG_CODE}).status_code == 400
    again = c.post(SIGNIN, {"email": "ada@example.com", "password": candidate})
    assert again.status_code == 302 and again["Location"] == CODE_PAGE, again
    return c.post(CODE_PAGE, {"code": WRONG_CODE}).status_code


def test_past_the_cap_a_right_password_looks_like_a_wrong_one(user):
    """Password guesser past the cap (default limits). A right password kept the waiting sign-in (and
    its spent code tries) when given again in the same browser; a wrong one started a fresh one. So the
    next code try was throttled (429) after the right password and merely wrong (400) after a wrong one:
    a password oracle that keeps online guessing going past NIST's 100 at signin-account's pace."""
    for _ in range(100):
        ratelimit.hit(("signin-account-cap", "ada@example.com"))

    after_wrong = probe("not the password 1", "203.0.113.10")
    after_right = probe(PASSWORD, "203.0.113.11")

    assert after_right == after_wrong, f"right password -> {after_right}, wrong password -> {after_wrong}"


def observe_repeat(candidate: str, ip: str) -> dict:
    """Everything a guesser without the mailbox sees when giving a candidate twice in one browser and
    then trying codes: statuses, redirects, cookies set, pages, waits, and the database work."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = Client(raise_request_exception=False, REMOTE_ADDR=ip)
    seen: dict = {"first": password_step(c, "ada@example.com", candidate)["Location"]}
    seen["tries"] = [c.post(CODE_PAGE, {"code": WRONG_CODE}).status_code for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        again = password_step(c, "ada@example.com", candidate)
    seen["again"] = (again.status_code, again["Location"], sorted(again.cookies))
    seen["statements"] = [re.sub(r"'[^']*'|\b\d+\b|NULL", "?", q["sql"]) for q in queries.captured_queries]
    seen["page"] = page_text(c.get(CODE_PAGE))
    with CaptureQueriesContext(connection) as queries:
        seen["more_tries"] = [c.post(CODE_PAGE, {"code": WRONG_CODE}).status_code for _ in range(3)]
    seen["code_statements"] = [re.sub(r"'[^']*'|\b\d+\b|NULL", "?", q["sql"]) for q in queries.captured_queries]
    throttled = c.post(CODE_PAGE, {"code": WRONG_CODE})
    seen["throttled"] = (throttled.status_code, page_text(throttled))
    seen["retry_after"] = int(throttled.get("Retry-After", "0"))
    return seen


def test_past_the_cap_a_repeated_right_password_does_what_a_wrong_one_does(capped_account, deliver_outbox):
    """Password guesser past the cap: nothing after a repeat (cookies, page, later code tries and their
    waits, statements run) tells the owner's password from a guess."""
    wrong = observe_repeat(WRONG, "203.0.113.20")
    right = observe_repeat(PASSWORD, "203.0.113.21")
    assert abs(right.pop("retry_after") - wrong.pop("retry_after")) <= 1
    assert right == wrong
    assert right["more_tries"][-1] == 429, "the repeat kept the waiting sign-in and its spent tries"


def test_the_owner_who_mistyped_first_still_gets_a_code_in_the_same_browser(capped_account, deliver_outbox):
    owner = Client()
    password_step(owner, capped_account.email, WRONG)
    password_step(owner, capped_account.email, PASSWORD)
    assert owner.post(CODE_PAGE, {"code": mailed_code(deliver_outbox)})["Location"] == "/accounts/"


def test_a_wrong_password_after_the_right_one_does_not_keep_the_sign_in_waiting(capped_account, deliver_outbox):
    """The latest password decides: someone at the owner's browser cannot ride on an earlier right one."""
    c = Client()
    password_step(c, capped_account.email, PASSWORD)
    code = mailed_code(deliver_outbox)
    password_step(c, capped_account.email, WRONG)
    assert c.post(CODE_PAGE, {"code": code}).status_code == 400
    assert not is_signed_in(c)
