"""The sign-in state as sessions store it (accounts/signin_state.py): what one release writes, another
reads, both ways, so a rolling deploy's two versions can serve the same sessions."""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase

from accounts.signin_state import PREVIOUS_SIGNIN, Factor, PreviousSignin, SigninState


def test_a_previous_sign_in_with_facts_a_newer_release_added_still_reads():
    session = SessionBase()
    session[PREVIOUS_SIGNIN] = {"at": 1700000000, "browser": "Firefox", "via": "Acme", "added-later": "x"}
    assert SigninState(session).previous_signin == PreviousSignin(at=1700000000, browser="Firefox", via="Acme")


def test_a_factor_with_facts_a_newer_release_added_still_reads():
    assert Factor.from_json({"method": "fed", "at": 5, "via": "Acme", "added-later": 1}) == Factor("fed", 5, via="Acme")
