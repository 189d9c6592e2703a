"""Fixtures for the second-factor tests (their helpers are in pages.py). Every test here runs on
`totp_clock` (tests/conftest.py), so a code a test computes is still current when the server checks it."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.users import add_totp


@pytest.fixture(autouse=True)
def clock(totp_clock):
    """`time.time()` starting 1 s into the next TOTP step; `clock.advance(seconds)` moves it on."""
    return totp_clock


@pytest.fixture
def browser():
    """A separate browser with its own cookie jar."""

    def make(**defaults) -> Client:
        return Client(raise_request_exception=False, **defaults)

    return make


@pytest.fixture
def ada(user):
    """A user with one authenticator app ("Phone") and no recovery codes yet."""
    add_totp(user)
    return user
