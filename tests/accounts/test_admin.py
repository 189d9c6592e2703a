import pytest
from django.test import Client

from accounts.models import OutboxMail, User
from accounts.sessions import user_session_ids
from tests.conftest import PASSWORD, pass_mfa, sign_in_admin

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_admin) -> Client:
    return sign_in_admin(make_admin())


# The management form of the (empty) passkeys inline on the user change page.
NO_PASSKEY_CHANGES = {
    "passkeys-TOTAL_FORMS": "0",
    "passkeys-INITIAL_FORMS": "0",
    "passkeys-MIN_NUM_FORMS": "0",
    "passkeys-MAX_NUM_FORMS": "1000",
}


def signed_in(user) -> Client:
    c = Client(raise_request_exception=False)
    c.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    return c


def test_users_are_searchable_by_email_and_filterable(admin_client, make_user):
    make_user("findme@example.com")
    make_user("other@example.com", email_verified=False)
    found = admin_client.get("/admin/accounts/user/", {"q": "FINDME"}).content.decode()
    assert "findme@example.com" in found and "other@example.com" not in found
    unverified = admin_client.get("/admin/accounts/user/", {"email_verified__exact": "0"}).content.decode()
    assert "other@example.com" in unverified and "findme@example.com" not in unverified
    assert "Last login" in found


def test_deactivate_action_ends_sessions_and_blocks_sign_in(admin_client, user):
    victim_browser = signed_in(user)
    assert victim_browser.get("/accounts/").status_code == 200
    response = admin_client.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_active
    assert user_session_ids(user.pk) == []
    assert victim_browser.get("/accounts/").status_code == 302
    assert signed_in(user).get("/accounts/").status_code == 302


def test_deactivating_from_the_change_form_ends_sessions(admin_client, user):
    victim_browser = signed_in(user)
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    data = {
        "email": user.email,
        "display_name": "",
        "email_verified": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        **NO_PASSKEY_CHANGES,
    }  # is_active left unticked
    response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert not user.is_active
    assert victim_browser.get("/accounts/").status_code == 302


def test_reactivate_action(admin_client, make_user):
    user = make_user(is_active=False)
    admin_client.post("/admin/accounts/user/", {"action": "reactivate", "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert user.is_active


def test_send_password_reset_action_queues_a_mail(admin_client, user, deliver_outbox):
    admin_client.post("/admin/accounts/user/", {"action": "send_password_reset", "_selected_action": [user.pk]})
    mails = deliver_outbox()
    assert [m.to for m in mails] == [[user.email]]
    assert "/accounts/password/reset/" in mails[0].body


def test_admin_can_add_a_user_and_duplicate_addresses_are_refused(admin_client, make_user):
    make_user("taken@example.com")
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {"email": "TAKEN@example.com", "usable_password": "false"},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {"email": " Fresh@Example.com", "usable_password": "true", "password1": "a long admin-set pass", "password2": "a long admin-set pass"},
    )
    assert response.status_code == 302
    assert User.objects.get_by_email("fresh@example.com").email == "Fresh@example.com"


def test_outbox_is_visible_read_only_with_its_state(admin_client, user, client):
    client.post("/accounts/password/reset/", {"email": user.email})
    row = OutboxMail.objects.get()
    listing = admin_client.get("/admin/accounts/outboxmail/").content.decode()
    assert user.email in listing and "pending" in listing
    assert admin_client.get("/admin/accounts/outboxmail/add/").status_code == 403
    detail = admin_client.get(f"/admin/accounts/outboxmail/{row.pk}/change/")
    assert detail.status_code == 200
    assert 'name="to"' not in detail.content.decode()  # shown, not editable
    assert admin_client.post(f"/admin/accounts/outboxmail/{row.pk}/delete/", {"post": "yes"}).status_code == 403


def test_non_staff_cannot_reach_admin(signed_in_client):
    assert signed_in_client.get("/admin/accounts/user/").status_code == 302


def test_admin_login_goes_through_the_sign_in_page(client, make_admin):
    root = make_admin()
    response = client.get("/admin/")
    assert response.status_code == 302
    login = client.get(response["Location"])
    assert login.status_code == 302
    assert login["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    signed = client.post(login["Location"], {"email": "root@example.com", "password": PASSWORD, "next": "/admin/"})
    assert signed["Location"] == "/accounts/mfa/"
    assert pass_mfa(client, root)["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_signed_in_non_staff_get_a_clear_403_not_a_redirect_loop(signed_in_client):
    assert signed_in_client.get("/admin/login/?next=/admin/").status_code == 403


def test_outbox_admin_can_send_failed_mail_again(admin_client, user, client, settings, mailoutbox):
    from accounts.tasks import send_outbox_mail

    client.post("/accounts/password/reset/", {"email": user.email})
    row = OutboxMail.objects.get(user=user)
    OutboxMail.objects.filter(pk=row.pk).update(attempts=settings.MAIL_MAX_ATTEMPTS, last_error="SMTP down")
    admin_client.post("/admin/accounts/outboxmail/", {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.attempts == 0 and row.state == "pending"
    send_outbox_mail(row.pk)  # what the worker does with the enqueued task
    assert [m.to for m in mailoutbox] == [[user.email]]
