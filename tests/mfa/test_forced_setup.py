"""Staff sent to set up two-step verification are told why, are not offered header links that bounce
them back, and land where they were going once a factor is set up (issue 19)."""

from __future__ import annotations

import pytest

from mfa.stages import MFA_SETUP_NEXT
from tests.users import PASSWORD

from .pages import ENROL_PAGE, MFA_PAGE, code_for_secret, enrol_through_pages, submit_code

pytestmark = pytest.mark.django_db

STAFF_WHY = "Your organisation requires two-step verification for staff and admin accounts."


@pytest.fixture
def staff(make_user, settings):
    settings.MFA_REQUIRED = "staff"
    return make_user("staff@example.com", is_staff=True, is_superuser=True)


def signed_in_from_the_admin(c, staff):
    """A staff member without a factor visits /admin/ and signs in at the page it sends them to."""
    to_admin_login = c.get("/admin/")
    to_signin = c.get(to_admin_login["Location"])
    assert to_signin["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    response = c.post(to_signin["Location"], {"email": staff.email, "password": PASSWORD})
    assert response["Location"] == ENROL_PAGE
    return c


def test_the_setup_page_says_why_and_shows_no_header_link_that_bounces(staff, browser):
    c = signed_in_from_the_admin(browser(), staff)
    html = c.get(ENROL_PAGE).content.decode()
    assert STAFF_WHY in html and "Set up an authenticator app or a passkey to continue." in html
    header = html.split("<header", 1)[1].split("</header>", 1)[0]
    assert 'href="/accounts/"' not in header  # "Account" would only lead back here
    assert 'action="/accounts/logout/"' in header  # signing out still works
    assert c.get("/accounts/")["Location"] == ENROL_PAGE


def test_the_reason_is_said_in_german(staff, browser):
    c = signed_in_from_the_admin(browser(), staff)
    html = c.get(ENROL_PAGE, headers={"accept-language": "de"}).content.decode()
    assert "Ihre Organisation verlangt die Zwei-Schritt-Verifizierung für Konten von Mitarbeitenden" in html


def test_someone_setting_up_a_factor_by_choice_is_told_nothing_and_keeps_the_header(signed_in_client):
    html = signed_in_client.get(ENROL_PAGE).content.decode()
    assert "data-mfa-required" not in html and 'href="/accounts/"' in html.split("</header>", 1)[0]


def test_after_setup_the_admin_is_where_they_were_going(staff, browser, clock):
    c = signed_in_from_the_admin(browser(), staff)
    response, secret = enrol_through_pages(c)
    assert response["Location"] == "/accounts/security/recovery-codes/"
    codes_page = c.get(response["Location"]).content.decode()
    assert '<a href="/admin/">' in codes_page  # "I have saved them" goes on to the admin
    # There the factor just set up is asked for once (it proves nothing until used), then the admin opens.
    step_up = c.get(c.get("/admin/")["Location"])
    assert step_up["Location"] == MFA_PAGE
    clock.advance(30)  # the enrolment used this step's code
    assert submit_code(c, code_for_secret(secret))["Location"] == "/admin/"
    assert c.get("/admin/").status_code == 200


def test_a_page_visited_while_setup_is_required_is_where_setup_continues(make_user, browser, settings):
    settings.MFA_REQUIRED = "all"
    person = make_user()
    c = browser()
    assert c.post("/accounts/login/", {"email": person.email, "password": PASSWORD})["Location"] == ENROL_PAGE
    assert c.get("/accounts/email/")["Location"] == ENROL_PAGE
    response, _ = enrol_through_pages(c)
    assert '<a href="/accounts/email/">' in c.get(response["Location"]).content.decode()


def test_where_setup_continues_is_never_another_site(staff, browser):
    """Only a local path is kept; a value planted in the session some other way is not followed."""
    c = signed_in_from_the_admin(browser(), staff)
    session = c.session
    session[MFA_SETUP_NEXT] = "https://evil.example/"
    session.save()
    response, _ = enrol_through_pages(c)
    html = c.get(response["Location"]).content.decode()
    assert "evil.example" not in html and '<a href="/accounts/security/">' in html
