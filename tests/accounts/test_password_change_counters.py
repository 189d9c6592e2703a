"""Wrong current passwords on the password-change page have counters of their own (issue 19): they
never lock the address's sign-in, yet someone holding a session (a stolen cookie) gets only a few
guesses per session and at most the cap per account."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.users import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not the password 4567"
NEW = "a brand new passphrase 7"


def sign_in(user) -> Client:
    c = Client(raise_request_exception=False)
    assert c.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    return c


def change(c: Client, old: str):
    return c.post("/accounts/password/change/", {"old_password": old, "new_password1": NEW, "new_password2": NEW})


def test_wrong_current_passwords_do_not_throttle_sign_in(user):
    attacker = sign_in(user)
    statuses = [change(attacker, WRONG).status_code for _ in range(12)]
    assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}, statuses
    # The owner, from another browser, signs in with the right password (sign-in allows 5 per IP+account,
    # 10 per account: had the 12 guesses counted there, this would be refused).
    owner = Client(raise_request_exception=False)
    assert owner.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302


def test_a_stolen_session_gets_no_more_guesses_by_waiting_past_the_cap(settings, user):
    """Attacking test: the per-session limit refills, but the account's cap does not."""
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "password-change-session": "1000/m",
        "password-change-cap": "3/100y",
    }
    attacker = sign_in(user)
    assert [change(attacker, WRONG).status_code for _ in range(3)] == [400] * 3
    capped = change(attacker, PASSWORD)  # even the right password is no longer checked
    assert capped.status_code == 429 and "Retry-After" not in capped
    assert "Reset your password" in capped.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    # ... and another session of the same account is capped too (the cap is the account's).
    assert change(sign_in(user), PASSWORD).status_code == 429
    # Sign-in itself is untouched by it.
    assert Client().post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302


def test_a_right_current_password_clears_the_counts(settings, user):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password-change-session": "2/15m"}
    c = sign_in(user)
    assert change(c, WRONG).status_code == 400
    assert (
        c.post(
            "/accounts/password/change/", {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"}
        ).status_code
        == 400
    )  # the current password was right: its counters start over
    assert change(c, WRONG).status_code == 400
    assert change(c, WRONG).status_code == 400
