"""Who must use a second factor (MFA_REQUIRED, user.mfa_required), and what they can do until they have one.

Staff need one by default; the admin site also wants the session itself to have been signed in with it.
"""

from __future__ import annotations

import pytest

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from mfa import recovery
from tests.users import PASSWORD, sign_in_admin

from .pages import (
    ENROL_PAGE,
    MFA_PAGE,
    code_for_secret,
    enrol_through_pages,
    is_signed_in,
    password_step,
    sign_in_with_mfa,
    start_pending,
    submit_code,
)

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
NEW = "a brand new passphrase 7"
LOCKED_PAGES = [
    "/accounts/",
    "/accounts/security/",
    "/admin/",
    "/admin/accounts/user/",
    "/accounts/email/",
    "/accounts/password/change/",
]


@pytest.fixture(params=["policy-all", "user-flag"])
def must_enrol(request, make_user, settings):
    """A user without a second factor who must have one: by MFA_REQUIRED=all, or by their own flag."""
    if request.param == "policy-all":
        settings.MFA_REQUIRED = "all"
        return make_user()
    settings.MFA_REQUIRED = "off"
    return make_user(mfa_required=True)


def test_sign_in_leads_straight_to_enrolment(must_enrol, browser):
    c = browser()
    response = c.post("/accounts/login/?next=/accounts/security/", {"email": must_enrol.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == ENROL_PAGE
    page = c.get(ENROL_PAGE)
    assert page.status_code == 200 and "Set up an authenticator app" in page.content.decode()


@pytest.mark.parametrize("path", LOCKED_PAGES)
def test_nothing_else_is_reachable_until_enrolled(must_enrol, browser, path):
    c = browser()
    password_step(c, must_enrol.email)
    response = c.get(path)
    assert response.status_code == 302 and response["Location"] == ENROL_PAGE


def test_posts_elsewhere_are_refused_too(must_enrol, browser):
    c = browser()
    password_step(c, must_enrol.email)
    response = c.post("/accounts/email/", {"email": "elsewhere@example.com"})
    assert response["Location"] == ENROL_PAGE
    response = c.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )
    assert response["Location"] == ENROL_PAGE
    must_enrol.refresh_from_db()
    assert must_enrol.check_password(PASSWORD)
    assert not SecurityEvent.objects.filter(kind__in=[Event.EMAIL_CHANGE_REQUESTED, Event.PASSWORD_CHANGED]).exists()


def test_sign_out_still_works(must_enrol, browser):
    c = browser()
    password_step(c, must_enrol.email)
    response = c.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert c.get("/accounts/")["Location"].startswith("/accounts/login/")
    assert c.get(ENROL_PAGE)["Location"].startswith("/accounts/login/")


def test_enrolment_lifts_the_restriction(must_enrol, browser):
    c = browser()
    password_step(c, must_enrol.email)
    response, _ = enrol_through_pages(c)
    assert response["Location"] == "/accounts/security/recovery-codes/"
    assert c.get("/accounts/security/recovery-codes/").status_code == 200
    assert is_signed_in(c)
    assert c.get("/accounts/security/").status_code == 200


def test_the_restriction_survives_a_stale_session(must_enrol, browser, clock, settings):
    """Past the re-authentication window, re-authenticating is allowed, and leads back to enrolment."""
    c = browser()
    password_step(c, must_enrol.email)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    to_reauth = c.get(ENROL_PAGE)
    assert to_reauth["Location"].startswith("/accounts/reauthenticate/")
    assert c.get(to_reauth["Location"]).status_code == 200
    back = c.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": ENROL_PAGE})
    assert back["Location"] == ENROL_PAGE
    assert c.get("/accounts/")["Location"] == ENROL_PAGE


@pytest.mark.parametrize(
    ("policy", "staff", "forced"),
    [("off", True, False), ("staff", False, False), ("staff", True, True), ("all", False, True)],
)
def test_policy_levels(make_user, browser, settings, policy, staff, forced):
    settings.MFA_REQUIRED = policy
    person = make_user(is_staff=staff)
    response = password_step(browser(), person.email)
    assert response["Location"] == (ENROL_PAGE if forced else "/accounts/")


# --- staff and the admin site ----------------------------------------------------------------------


@pytest.fixture
def staff(make_user):
    return make_user("staff@example.com", is_staff=True, is_superuser=True)


def test_staff_without_a_second_factor_are_sent_to_enrol_not_to_the_admin(staff, browser, clock):
    c = browser()
    response = c.post("/accounts/login/?next=/admin/", {"email": staff.email, "password": PASSWORD})
    assert response["Location"] == ENROL_PAGE
    assert c.get("/admin/")["Location"] == ENROL_PAGE
    assert c.get("/admin/accounts/user/")["Location"] == ENROL_PAGE

    _, secret = enrol_through_pages(c)
    # The factor just enrolled proves nothing about who holds this session: the admin asks for it once.
    to_login = c.get("/admin/")
    assert to_login["Location"] == "/admin/login/?next=/admin/"
    step_up = c.get(to_login["Location"])
    assert step_up["Location"] == MFA_PAGE
    page = c.get(MFA_PAGE).content.decode()
    assert "The administration site needs your second factor in this session." in page
    assert c.get("/admin/accounts/user/").status_code == 302
    clock.advance(30)  # the enrolment used this step's code
    assert submit_code(c, code_for_secret(secret))["Location"] == "/admin/"
    assert c.get("/admin/").status_code == 200
    assert c.get("/admin/accounts/user/").status_code == 200


def test_staff_session_without_a_second_factor_gets_a_clear_403_at_the_admin(staff, browser, settings):
    settings.MFA_REQUIRED = "off"
    c = browser()
    assert password_step(c, staff.email)["Location"] == "/accounts/"
    assert c.get("/admin/").status_code == 200  # policy off: the password is enough

    settings.MFA_REQUIRED = "staff"
    response = c.get("/admin/")
    assert response.status_code == 302
    refused = c.get(response["Location"])
    assert refused.status_code == 403
    assert "Two-step verification needed" in refused.content.decode()
    assert c.get("/admin/accounts/user/").status_code == 302
    # A direct POST to an admin action does nothing either.
    c.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [staff.pk]})
    staff.refresh_from_db()
    assert staff.is_active
    assert is_signed_in(c), "the session itself is fine for the rest of the site"


def test_staff_member_flagged_individually_needs_the_factor_in_the_session(make_user, browser, settings):
    settings.MFA_REQUIRED = "off"
    person = make_user("flagged@example.com", is_staff=True, is_superuser=True)
    c = browser()
    password_step(c, person.email)
    type(person).objects.filter(pk=person.pk).update(mfa_required=True)
    assert c.get(c.get("/admin/")["Location"]).status_code == 403


def test_staff_signed_in_with_a_second_factor_use_the_admin(make_admin):
    c = sign_in_admin(make_admin())
    assert c.get("/admin/").status_code == 200
    assert c.get("/admin/accounts/user/").status_code == 200


def test_staff_signed_in_with_a_recovery_code_use_the_admin(make_admin, browser):
    root = make_admin()
    [code, *_] = recovery.generate(root)
    c = start_pending(browser(), root)
    assert submit_code(c, code, recovery=True)["Location"] == "/accounts/"
    assert c.get("/admin/").status_code == 200


def test_non_staff_cannot_reach_the_admin_even_with_a_second_factor(ada, browser):
    c = sign_in_with_mfa(browser(), ada)
    response = c.get("/admin/")
    assert response.status_code == 302
    assert c.get(response["Location"]).status_code == 403


def test_re_entering_the_password_does_not_forget_the_second_factor(make_admin, generous_limits):
    c = sign_in_admin(make_admin())
    for _ in range(10):
        assert c.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    assert c.get("/admin/").status_code == 200
