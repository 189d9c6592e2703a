"""Deleting one's own account tells the apps by back-channel logout: a real worker and the real
loopback receiver of test_backchannel.py, the logout token checked as an app would."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.oidc.test_backchannel import (  # noqa: F401  (fixtures: receiver, broker, worker)
    app_with_backchannel,
    broker,
    logout_claims,
    receiver,
    sign_in,
    worker,
)


@pytest.mark.django_db(transaction=True)
def test_deleting_ones_own_account_sends_a_logout_token_to_the_app(receiver, worker, user):  # noqa: F811
    rp = app_with_backchannel(receiver)
    browser = sign_in(user.email)
    tokens = rp.sign_in_and_redeem(browser)
    subject = str(user.subject)

    response = browser.post("/accounts/delete/", {"email": user.email})

    assert response.status_code == 302 and response["Location"] == "/accounts/deleted/"
    assert not User.objects.filter(subject=subject).exists()
    receiver.wait_for(1)
    told = [logout_claims(token, rp)[1] for token in receiver.tokens()]
    assert told and all(claims["sub"] == subject for claims in told)
    assert rp.refresh(tokens["refresh_token"]).status_code == 400
