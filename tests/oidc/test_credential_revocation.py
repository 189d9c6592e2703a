"""A password change (the person's own or set by an admin) ends every token family of the person but
those of the session that made the change, including families whose session already idled out.

The review's attack: a public app's refresh token, obtained in a session that has since expired
(nothing in Redis names it any more), kept working after the owner changed the password elsewhere.
Review R4: an authorization code outstanding when access ends (password change, "This wasn't me",
sign-out) brings no tokens afterwards, even one written just after the codes were deleted.
Every request goes through Django's test client against real PostgreSQL and Redis.
"""

from __future__ import annotations

import pytest
from django.test import Client as Browser

from accounts.sessions import SessionStore, user_sessions
from oidc.models import AuthorizationCode, TokenFamily
from tests.oidc.relying_party import RelyingParty, register, sign_in_with_password
from tests.oidc.test_backchannel import broker, receiver, worker  # noqa: F401  (fixtures)
from tests.processes import wait_until_broker_idle
from tests.users import PASSWORD, sign_in_admin

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a completely new passphrase 42"


def signed_in(email: str) -> Browser:
    browser = Browser(raise_request_exception=False)
    assert sign_in_with_password(browser, email).status_code == 302
    return browser


def idle_out(browser: Browser) -> None:
    """What SESSION_IDLE_TIMEOUT does: Redis lets the session expire; nothing else is told."""
    SessionStore(browser.session.session_key).delete()


def change_own_password(browser: Browser):
    return browser.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )


def assert_invalid_grant(rp: RelyingParty, refresh_token: str) -> None:
    refused = rp.refresh(refresh_token)
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"] == "invalid_grant"


def test_own_password_change_ends_a_refresh_token_whose_session_idled_out(public_rp, user):
    old = signed_in(user.email)
    tokens = public_rp.sign_in_and_redeem(old)
    idle_out(old)
    assert old.get("/accounts/").status_code == 302  # that session is really gone

    elsewhere = signed_in(user.email)
    assert change_own_password(elsewhere).status_code == 302
    assert_invalid_grant(public_rp, tokens["refresh_token"])
    assert public_rp.userinfo(tokens["access_token"]).status_code == 401


def test_own_password_change_keeps_the_changing_sessions_apps_and_ends_the_others(public_rp, rp, user):
    here = signed_in(user.email)
    kept = rp.sign_in_and_redeem(here)
    other = signed_in(user.email)
    ended = public_rp.sign_in_and_redeem(other)

    assert change_own_password(here).status_code == 302
    assert_invalid_grant(public_rp, ended["refresh_token"])  # a live session elsewhere: ended too
    refreshed = rp.refresh(kept["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content  # the app of the session that changed it
    assert rp.userinfo(refreshed.json()["access_token"]).status_code == 200
    assert here.get("/accounts/").status_code == 200
    assert (
        not TokenFamily.objects.filter(user=user, revoked_at__isnull=True)
        .exclude(session_ref=here.session["accounts.session_ref"])
        .exists()
    )


def test_admin_password_set_ends_every_token_family_and_session_of_the_person(public_rp, user, make_admin):
    old = signed_in(user.email)
    idled = public_rp.sign_in_and_redeem(old)
    idle_out(old)
    live_browser = signed_in(user.email)
    other_app, secret = register("Other app")
    other_rp = RelyingParty(other_app, secret)
    live = other_rp.sign_in_and_redeem(live_browser)

    admin = sign_in_admin(make_admin())
    response = admin.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_invalid_grant(public_rp, idled["refresh_token"])
    assert_invalid_grant(other_rp, live["refresh_token"])
    assert user_sessions(user.pk) == {}
    assert live_browser.get("/accounts/").status_code == 302


def test_admin_email_change_ends_every_token_family_of_the_person(public_rp, user, make_admin):
    old = signed_in(user.email)
    idled = public_rp.sign_in_and_redeem(old)
    idle_out(old)
    live = public_rp.sign_in_and_redeem(signed_in(user.email))

    from tests.accounts.test_admin import change_form

    admin = sign_in_admin(make_admin())
    response = admin.post(f"/admin/accounts/user/{user.pk}/change/", change_form(user, email="ada@new.example"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_invalid_grant(public_rp, idled["refresh_token"])
    assert_invalid_grant(public_rp, live["refresh_token"])


@pytest.mark.django_db(transaction=True)
def test_apps_hear_of_each_ended_session_never_of_the_kept_one(receiver, broker, worker, user):
    """After one's own password change, a back-channel app is told by `sid` of the other sessions
    (also one that idled out), not by `sub`, which would sign the changing session out of it too."""
    from tests.oidc.test_backchannel import app_with_backchannel, logout_claims

    app = app_with_backchannel(receiver)
    idled_browser = signed_in(user.email)
    idled = app.sign_in_and_redeem(idled_browser)
    idle_out(idled_browser)
    here = signed_in(user.email)
    kept = app.sign_in_and_redeem(here)

    assert change_own_password(here).status_code == 302

    [post] = receiver.wait_for(1)
    _, claims = logout_claims(post["form"]["logout_token"][0], app)
    assert claims["sid"] == idled["claims"]["sid"] != kept["claims"]["sid"]
    assert_invalid_grant(app, idled["refresh_token"])
    assert app.refresh(kept["refresh_token"]).status_code == 200
    wait_until_broker_idle(broker, timeout=30.0, quiet=0.7)
    assert len(receiver.received) == 1


def test_an_mfa_reset_ends_every_token_family_of_the_person(public_rp, rp, make_user):
    """A reset is what an admin does when a factor was lost or stolen: whoever holds it may already
    hold app tokens too (also from a session that idled out), and none of them may keep working."""
    from tests.accounts.test_admin_least_privilege import grant
    from tests.users import add_totp, totp_code

    person = make_user("lost-phone@example.com")
    device = add_totp(person)

    def signed_in_with_factor(steps_ago: int) -> Browser:
        browser = Browser(raise_request_exception=False)
        assert sign_in_with_password(browser, person.email).status_code == 302
        assert browser.post("/accounts/mfa/", {"code": totp_code(device, steps_ago)}).status_code == 302
        return browser

    old = signed_in_with_factor(0)
    idled = public_rp.sign_in_and_redeem(old)
    idle_out(old)
    live_browser = signed_in_with_factor(-1)  # each code works once: the next one (one step of drift)
    live = rp.sign_in_and_redeem(live_browser)

    staff = grant(make_user("helpdesk@example.com", is_staff=True), "view_user", "change_user")
    add_totp(staff)
    helpdesk = sign_in_admin(staff)
    response = helpdesk.post("/admin/accounts/user/", {"action": "reset_mfa", "_selected_action": [person.pk]})
    assert response.status_code == 302, response.content.decode()[:2000]

    assert_invalid_grant(public_rp, idled["refresh_token"])
    assert public_rp.userinfo(idled["access_token"]).status_code == 401
    assert_invalid_grant(rp, live["refresh_token"])
    assert not TokenFamily.objects.filter(user=person, revoked_at__isnull=True).exists()
    assert user_sessions(person.pk) == {}
    assert live_browser.get("/accounts/").status_code == 302


# Review R4: an authorization code outstanding when the access ends brings nothing afterwards.


def test_a_code_issued_before_the_owners_password_change_brings_no_tokens(rp, user):
    """Password thief signed in to an app through Identity: the browser holds a fresh authorization
    code (valid 60 s) when the owner changes the password elsewhere, which must revoke every token
    family of every other session (section 4). The thief's app redeems the code afterwards and gets a
    live access token and refresh token for the session that was just ended."""
    thief = Browser(raise_request_exception=False)
    assert thief.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    request = rp.authorization()
    response = thief.get(request["url"])
    if response.status_code == 200:
        response = thief.post(request["url"], {"decision": "allow"})
    code = rp.callback(response)["code"]

    owner = Browser(raise_request_exception=False)
    assert owner.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    changed = owner.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302, changed.content.decode()[:2000]
    assert thief.get("/accounts/").status_code == 302, "the thief's session ended"

    redeemed = rp.redeem(code, request["verifier"])
    if redeemed.status_code == 200:
        tokens = redeemed.json()
        assert rp.refresh(tokens["refresh_token"]).status_code != 200, "the late code's refresh token works"
        assert rp.userinfo(tokens["access_token"]).status_code != 200, "the late code's access token works"
    assert redeemed.status_code == 400 and redeemed.json()["error"] == "invalid_grant", redeemed.content


def test_a_code_issued_before_this_wasnt_me_brings_no_tokens(rp, user, deliver_outbox):
    """The same with the eviction path of section 3: the thief's sign-in from a new browser is mailed
    with a "This wasn't me" link; the owner follows it (every session ends, every token is revoked);
    the code the thief's browser already holds still brings a refresh token that rotates for weeks."""
    from tests.accounts.test_not_me import OWNER_UA, browser, follow_not_me, link_in, sign_in

    sign_in(browser(OWNER_UA, "198.51.100.7"))  # the owner's laptop: the account's first browser
    thief = browser()
    assert sign_in(thief).status_code == 302
    request = rp.authorization()
    response = thief.get(request["url"])
    if response.status_code == 200:
        response = thief.post(request["url"], {"decision": "allow"})
    code = rp.callback(response)["code"]
    new_browser = [m for m in deliver_outbox() if "This wasn't me" in m.body or "not-me" in m.body]
    follow_not_me(link_in(new_browser[-1]))
    assert thief.get("/accounts/").status_code == 302, "the thief's session ended"

    redeemed = rp.redeem(code, request["verifier"])
    if redeemed.status_code == 200:
        assert rp.refresh(redeemed.json()["refresh_token"]).status_code != 200, "the late code's refresh token works"
    assert redeemed.status_code == 400 and redeemed.json()["error"] == "invalid_grant", redeemed.content


def code_in(browser: Browser, rp: RelyingParty) -> tuple[str, dict]:
    request = rp.authorization()
    response = browser.get(request["url"])
    if response.status_code == 200:
        response = browser.post(request["url"], {"decision": "allow"})
    return rp.callback(response)["code"], request


def test_a_code_written_just_after_the_eviction_still_brings_nothing(rp, user):
    """The race past the deletion: the thief's authorization request read its session a moment before
    the owner's password change ended it, and writes its code after the codes were deleted. The token
    endpoint still refuses it, because the code's session has ended."""
    thief = signed_in(user.email)
    code, request = code_in(thief, rp)
    in_flight = AuthorizationCode.objects.get(code=code)

    assert change_own_password(signed_in(user.email)).status_code == 302
    assert not AuthorizationCode.objects.filter(code=code).exists(), "the outstanding code was deleted"
    in_flight.save(force_insert=True)  # written by the request that was still running

    redeemed = rp.redeem(code, request["verifier"])
    assert redeemed.status_code == 400 and redeemed.json()["error"] == "invalid_grant", redeemed.content
    assert not TokenFamily.objects.filter(user=user).exists()


def test_a_code_of_a_session_that_signed_out_brings_nothing(rp, user):
    """Signing out at Identity ends the session's codes too (one session, not the person)."""
    browser = signed_in(user.email)
    code, request = code_in(browser, rp)
    assert browser.post("/accounts/logout/").status_code == 302
    redeemed = rp.redeem(code, request["verifier"])
    assert redeemed.status_code == 400 and redeemed.json()["error"] == "invalid_grant", redeemed.content


def test_the_code_of_the_session_that_changed_the_password_still_works(rp, user):
    """(guard) The kept session stays signed in to its apps: its own outstanding code still redeems."""
    owner = signed_in(user.email)
    code, request = code_in(owner, rp)
    assert change_own_password(owner).status_code == 302
    redeemed = rp.redeem(code, request["verifier"])
    assert redeemed.status_code == 200, redeemed.content
    assert rp.refresh(redeemed.json()["refresh_token"]).status_code == 200
