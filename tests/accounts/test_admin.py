import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, SecurityEvent, User
from accounts.outbox import queue_mail
from accounts.sessions import user_sessions
from tests.users import PASSWORD, pass_mfa, sign_in_admin

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_admin) -> Client:
    return sign_in_admin(make_admin())


# The management forms of the (empty) second-factor inlines (passkeys, authenticator apps) on the user
# change page.
NO_PASSKEY_CHANGES = {
    "passkeys-TOTAL_FORMS": "0",
    "passkeys-INITIAL_FORMS": "0",
    "passkeys-MIN_NUM_FORMS": "0",
    "passkeys-MAX_NUM_FORMS": "1000",
    "totpdevice_set-TOTAL_FORMS": "0",
    "totpdevice_set-INITIAL_FORMS": "0",
    "totpdevice_set-MIN_NUM_FORMS": "0",
    "totpdevice_set-MAX_NUM_FORMS": "1000",
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
    response = admin_client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]})
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_active
    assert user_sessions(user.pk) == {}
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
        {
            "email": " Fresh@Example.com",
            "usable_password": "true",
            "password1": "a long admin-set pass",
            "password2": "a long admin-set pass",
        },
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
    OutboxMail.objects.filter(pk=row.pk).update(attempts=accounts_settings.MAIL_MAX_ATTEMPTS, last_error="SMTP down")
    admin_client.post("/admin/accounts/outboxmail/", {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.attempts == 0 and row.state == "pending"
    send_outbox_mail(row.pk)  # what the worker does with the enqueued task
    assert [m.to for m in mailoutbox] == [[user.email]]


def test_admin_never_shows_the_kept_links(admin_client, user, monkeypatch):
    import smtplib

    from django.core.mail.backends.locmem import EmailBackend
    from django.db import transaction

    from accounts import tasks
    from accounts.outbox import queue_mail

    with transaction.atomic():
        row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)

    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        tasks.send_outbox_mail(row.pk)
    row.refresh_from_db()
    page = admin_client.get(f"/admin/accounts/outboxmail/{row.pk}/change/")
    assert page.status_code == 200
    assert row.links["reset_url"].rsplit("/", 2)[-2] not in page.content.decode()


# --- credential changes by an admin go through the person's own flows (issue 13, section 1) -------


def change_form(user, **overrides) -> dict:
    """The change form of an account as the page posts it, unchanged unless overridden (None: unticked)."""
    data = {
        "email": user.email,
        "display_name": user.display_name,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    flags = ("is_active", "email_verified", "mfa_required", "is_staff", "is_superuser")
    data.update({field: "on" for field in flags if getattr(user, field)})
    data.update(NO_PASSKEY_CHANGES)
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def root(make_admin):
    return make_admin()


def test_admin_email_change_tells_the_old_address_signs_the_person_out_and_is_audited(root, user, deliver_outbox):
    person = signed_in(user)
    admin = sign_in_admin(root)
    deliver_outbox().clear()
    response = admin.post(f"/admin/accounts/user/{user.pk}/change/", change_form(user, email="ada@new.example"))
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.email == "ada@new.example"
    [mail] = deliver_outbox()
    assert mail.to == ["ada@example.com"]
    assert "An administrator changed the email address of your account to ada@new.example" in mail.body
    assert "ada@new.example" in mail.alternatives[0][0]
    assert user_sessions(user.pk) == {} and person.get("/accounts/").status_code == 302
    [event] = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.EMAIL_CHANGED)
    assert (event.user, event.actor, event.reason) == (user, root, "admin")
    assert admin.get("/admin/").status_code == 200  # the admin's own session is not the person's


def test_marking_an_address_verified_or_not_is_audited_with_the_admin(root, make_user):
    user = make_user("new@example.com", email_verified=False)
    admin = sign_in_admin(root)
    Kind = SecurityEvent.Kind
    assert (
        admin.post(f"/admin/accounts/user/{user.pk}/change/", change_form(user, email_verified="on")).status_code == 302
    )
    user.refresh_from_db()
    assert user.email_verified
    [verified] = SecurityEvent.objects.filter(kind=Kind.EMAIL_VERIFIED)
    assert (verified.user, verified.actor) == (user, root)
    assert (
        admin.post(f"/admin/accounts/user/{user.pk}/change/", change_form(user, email_verified=None)).status_code == 302
    )
    [unverified] = SecurityEvent.objects.filter(kind=Kind.ADMIN_EMAIL_UNVERIFIED)
    assert (unverified.user, unverified.actor) == (user, root)
    assert not SecurityEvent.objects.filter(kind=Kind.EMAIL_CHANGED).exists()


def test_admin_password_set_is_the_password_flow(root, user, deliver_outbox):
    person = signed_in(user)
    admin = sign_in_admin(root)
    deliver_outbox().clear()
    new = "an admin-set passphrase 9"
    response = admin.post(
        f"/admin/accounts/user/{user.pk}/password/", {"password1": new, "password2": new, "usable_password": "true"}
    )
    assert response.status_code == 302 and response["Location"] == f"/admin/accounts/user/{user.pk}/change/"
    assert "Password changed successfully." in admin.get(response["Location"]).content.decode()
    user.refresh_from_db()
    assert user.check_password(new)
    assert person.get("/accounts/").status_code == 302 and user_sessions(user.pk) == {}
    [mail] = deliver_outbox()
    assert mail.to == [user.email] and "An administrator just set a new password" in mail.body
    [event] = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.PASSWORD_CHANGED)
    assert (event.user, event.actor, event.reason) == (user, root, "admin")


def test_a_refused_admin_password_form_changes_nothing_and_says_why(root, user):
    admin = sign_in_admin(root)
    before = User.objects.get(pk=user.pk).password
    response = admin.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "short", "password2": "other", "usable_password": "true"},
    )
    assert response.status_code == 200 and "didn’t match" in response.content.decode()
    assert User.objects.get(pk=user.pk).password == before
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.PASSWORD_CHANGED).exists()


def test_admin_can_turn_password_sign_in_off_through_the_same_flow(root, user, deliver_outbox):
    admin = sign_in_admin(root)
    deliver_outbox().clear()
    response = admin.post(
        f"/admin/accounts/user/{user.pk}/password/", {"usable_password": "false", "unset-password": "1"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert [m.to for m in deliver_outbox()] == [[user.email]]


def factor_removal(user, factor, prefix: str = "passkeys", **fields) -> dict:
    """The change form with one factor of the inline `prefix` ticked for removal."""
    return change_form(
        user,
        **{
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "1",
            f"{prefix}-0-id": str(factor.pk),
            f"{prefix}-0-user": str(user.pk),
            f"{prefix}-0-DELETE": "on",
        },
        **fields,
    )


def test_admin_passkey_removal_is_the_factor_removal_flow(root, user, deliver_outbox):
    from mfa import recovery
    from mfa.models import RecoveryCode
    from tests.mfa.test_passkey_offer_and_admin import stored_passkey

    passkey = stored_passkey(user)
    recovery.generate(user)
    admin = sign_in_admin(root)
    deliver_outbox().clear()
    response = admin.post(f"/admin/accounts/user/{user.pk}/change/", factor_removal(user, passkey))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not type(passkey).objects.filter(pk=passkey.pk).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()  # no factor left: the codes go too
    [mail] = deliver_outbox()
    assert mail.to == [user.email] and "An administrator removed a passkey from your account." in mail.body
    [event] = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.MFA_REMOVED)
    assert (event.user, event.actor) == (user, root)


def test_admin_cannot_remove_the_last_factor_of_someone_who_must_use_mfa(root, make_user):
    from tests.mfa.test_passkey_offer_and_admin import stored_passkey

    user = make_user("must@example.com", mfa_required=True)
    passkey = stored_passkey(user)
    admin = sign_in_admin(root)
    response = admin.post(f"/admin/accounts/user/{user.pk}/change/", factor_removal(user, passkey))
    assert response.status_code == 200
    assert "their last second factor cannot be removed" in response.content.decode()
    assert type(passkey).objects.filter(pk=passkey.pk).exists()
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.MFA_REMOVED).exists()


def test_two_step_status_lists_passkeys_as_well_as_authenticator_apps(root, user):
    from tests.mfa.test_passkey_offer_and_admin import stored_passkey
    from tests.users import add_totp

    admin = sign_in_admin(root)
    stored_passkey(user, "YubiKey")
    page = admin.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Passkeys: YubiKey · recovery codes left: 0" in page and "Not set up" not in page
    add_totp(user, "Phone")
    page = admin.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Authenticator apps: Phone · Passkeys: YubiKey · recovery codes left: 0" in page


def test_outbox_send_again_needs_change_permission_not_view(make_user, user, client, settings):
    from django.contrib.auth.models import Permission

    from tests.users import add_totp

    client.post("/accounts/password/reset/", {"email": user.email})
    row = OutboxMail.objects.get(user=user)
    OutboxMail.objects.filter(pk=row.pk).update(attempts=accounts_settings.MAIL_MAX_ATTEMPTS, last_error="SMTP down")
    viewer = make_user("viewer@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxmail"))
    add_totp(viewer)
    browser = sign_in_admin(viewer)
    assert browser.get("/admin/accounts/outboxmail/").status_code == 200
    assert 'value="retry"' not in browser.get("/admin/accounts/outboxmail/").content.decode()
    browser.post("/admin/accounts/outboxmail/", {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.attempts == accounts_settings.MAIL_MAX_ATTEMPTS

    viewer.user_permissions.add(Permission.objects.get(codename="change_outboxmail"))
    assert 'value="retry"' in browser.get("/admin/accounts/outboxmail/").content.decode()
    browser.post("/admin/accounts/outboxmail/", {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.attempts == 0


def test_admin_totp_removal_is_the_factor_removal_flow(root, user, deliver_outbox):
    from tests.users import add_totp

    device = add_totp(user, "Phone")
    admin = sign_in_admin(root)
    page = admin.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Phone" in page and device.key not in page  # listed, never with its secret
    deliver_outbox().clear()
    response = admin.post(f"/admin/accounts/user/{user.pk}/change/", factor_removal(user, device, "totpdevice_set"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not type(device).objects.filter(pk=device.pk).exists()
    [mail] = deliver_outbox()
    assert "An administrator removed an authenticator app from your account." in mail.body
    [event] = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.MFA_REMOVED)
    assert (event.user, event.actor) == (user, root)


def test_django_otps_device_admin_with_its_secrets_and_unmailed_edits_is_gone(root, user):
    from tests.users import add_totp

    device = add_totp(user)
    admin = sign_in_admin(root)
    assert admin.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert admin.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").status_code == 404
    assert admin.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 404
    assert (
        admin.post("/admin/otp_totp/totpdevice/add/", {"user": user.pk, "name": "x", "key": "00" * 20}).status_code
        == 404
    )


def test_send_again_mints_fresh_links_not_the_kept_ones(admin_client, user):
    """The kept links may have expired while the mail waited for an admin."""
    from accounts import tasks

    with transaction.atomic():
        row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
    stale = {"reset_url": "http://testserver/expired/", tasks.MINTED_AT: timezone.now().isoformat()}
    OutboxMail.objects.filter(pk=row.pk).update(links=stale, attempts=9)
    admin_client.post("/admin/accounts/outboxmail/", {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.links.get("reset_url") != "http://testserver/expired/"
